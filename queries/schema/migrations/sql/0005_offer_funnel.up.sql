-- The ordered offer funnel per (offer, user), defined once: the Offers page's funnel and its conversion by
-- day (queries/sql/offers.sql) both read it.
--
-- offer_funnel_users(from, to, venue, offer): one row per user who viewed an offer whose window
-- [start_time, end_time) overlaps [from, to) (of one venue / one offer when given), with the steps of
-- DESIGN.md in order, each inside the offer's window:
--   first_view   the user's earliest view
--   first_click  the earliest click at or after first_view (NULL: not clicked)
--   claimed_at   the user's claim, made at or after first_click (NULL: not claimed in order)
--   redeemed_at  that claim's redemption (NULL: not redeemed)
--
-- SECURITY INVOKER (the default, said here because it matters): it reads as the caller, so a venue
-- owner's row-level security applies inside it.  LANGUAGE sql, STABLE, no SET clause: PostgreSQL inlines
-- it into the calling query, which plans it as if written there (the outer time bounds still prune
-- event_stream's partitions).
CREATE FUNCTION offer_funnel_users(p_from timestamptz, p_to timestamptz, p_venue uuid, p_offer uuid)
RETURNS TABLE (offer_id uuid, user_id uuid, first_view timestamptz, first_click timestamptz,
               claimed_at timestamptz, redeemed_at timestamptz)
LANGUAGE sql STABLE SECURITY INVOKER AS $$
WITH sel AS (
  SELECT o.id, o.start_time, o.end_time
  FROM flash_offers o
  WHERE o.start_time < p_to AND o.end_time > p_from
    AND (p_venue IS NULL OR o.venue_id = p_venue)
    AND (p_offer IS NULL OR o.id = p_offer)
),
-- one pass over the offers' view and click events inside their windows (the outer time bounds only let
-- the executor skip partitions; every event is still checked against its own offer's window)
ev AS (
  SELECT s.id AS offer_id, s.end_time, e.user_id, e.event_type, e.created_at,
         min(e.created_at) FILTER (WHERE e.event_type = 'flash_offer_view')
           OVER (PARTITION BY s.id, e.user_id) AS first_view
  FROM sel s
  JOIN event_stream e ON e.target_id = s.id
  WHERE e.is_analytics_event AND e.target_type = 'offer'
    AND e.event_type IN ('flash_offer_view', 'flash_offer_click')
    AND e.created_at >= s.start_time AND e.created_at < s.end_time
    AND e.created_at >= (SELECT min(start_time) FROM sel) AND e.created_at < (SELECT max(end_time) FROM sel)
),
steps AS (
  SELECT ev.offer_id, ev.end_time, ev.user_id, ev.first_view,
         min(ev.created_at) FILTER (WHERE ev.event_type = 'flash_offer_click' AND ev.created_at >= ev.first_view)
           AS first_click
  FROM ev
  WHERE ev.first_view IS NOT NULL
  GROUP BY ev.offer_id, ev.end_time, ev.user_id, ev.first_view
)
SELECT w.offer_id, w.user_id, w.first_view, w.first_click, c.created_at, c.redeemed_at
FROM steps w
LEFT JOIN flash_offer_claims c
  ON c.offer_id = w.offer_id AND c.user_id = w.user_id
 AND w.first_click IS NOT NULL AND c.created_at >= w.first_click AND c.created_at < w.end_time
$$;
