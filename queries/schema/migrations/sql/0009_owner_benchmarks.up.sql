-- Owner pages (issue 17).
--
-- venues.timezone: the venue's IANA time zone, so "when it works" (claims by hour and weekday) is in the
-- venue's local time.  'UTC' until set (the seed sets it from the venue's city).
ALTER TABLE venues ADD COLUMN timezone text NOT NULL DEFAULT 'UTC' CHECK (vp_is_valid_timezone(timezone));

-- Owner benchmarks: how each of the caller's offers compares with similar offers elsewhere, without
-- letting the caller learn anything about one other venue.
--
-- vp_offer_benchmarks(offers) returns one row per given offer that belongs to a venue of the
-- transaction's venue scope (vp_scope_venue_ids(), the same setting row-level security uses); any other
-- offer id is ignored, so an owner cannot ask about another venue's offer, and a connection without a
-- scope gets no rows.  For each offer it picks the narrowest peer group with at least 5 venues:
--   category_city (same category and city), then category, then city, then all
-- where the peers are the ended offers (window over, viewed at least once) of venues OUTSIDE the scope.
-- Each peer venue contributes one value per metric (its claim rate = claims / views, redemption rate =
-- redemptions / claims, median seconds from offer start to claim), so no single venue can dominate; a
-- quartile is returned only when at least 5 peer venues have that metric, otherwise NULL.  peer_scope
-- and peer_venues are NULL when no group reaches 5 venues ("fewer than 5 similar venues").
-- The result never holds another venue's id, name or row, and never a count below 5.
--
-- SECURITY DEFINER because owners cannot read other venues' rows; search_path pinned so callers cannot
-- substitute objects.
CREATE FUNCTION vp_offer_benchmarks(p_offers uuid[])
RETURNS TABLE (offer_id uuid, peer_scope text, peer_venues integer,
               claim_rate_p25 double precision, claim_rate_p50 double precision, claim_rate_p75 double precision,
               redeem_rate_p25 double precision, redeem_rate_p50 double precision,
               redeem_rate_p75 double precision, time_to_claim_p25_s double precision,
               time_to_claim_p50_s double precision, time_to_claim_p75_s double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
WITH scope AS (
  SELECT public.vp_scope_venue_ids() AS own
),
mine AS (
  SELECT o.id, v.category, v.city
  FROM public.flash_offers o
  JOIN public.venues v ON v.id = o.venue_id
  CROSS JOIN scope s
  WHERE o.id = ANY (p_offers) AND o.venue_id = ANY (s.own)
),
peer_offers AS (
  SELECT o.id, o.venue_id, o.view_count, o.claimed_count, o.redeemed_count, o.start_time
  FROM public.flash_offers o
  CROSS JOIN scope s
  WHERE o.end_time <= now() AND o.view_count > 0 AND NOT (o.venue_id = ANY (s.own))
    AND EXISTS (SELECT 1 FROM mine)
),
ttc AS (
  SELECT p.venue_id,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.created_at - p.start_time)) AS ttc
  FROM peer_offers p
  JOIN public.flash_offer_claims c ON c.offer_id = p.id
  GROUP BY p.venue_id
),
per_venue AS (
  SELECT p.venue_id, v.category, v.city,
         sum(p.claimed_count)::float8 / sum(p.view_count) AS claim_rate,
         sum(p.redeemed_count)::float8 / nullif(sum(p.claimed_count), 0) AS redeem_rate,
         t.ttc
  FROM peer_offers p
  JOIN public.venues v ON v.id = p.venue_id
  LEFT JOIN ttc t ON t.venue_id = p.venue_id
  GROUP BY p.venue_id, v.category, v.city, t.ttc
),
levels (level, scope_name) AS (
  VALUES (1, 'category_city'), (2, 'category'), (3, 'city'), (4, 'all')
),
agg AS (
  SELECT m.id, l.level, l.scope_name, count(*) AS n, count(pv.redeem_rate) AS n_redeem, count(pv.ttc) AS n_ttc,
         percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY pv.claim_rate) AS cr,
         percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY pv.redeem_rate) AS rr,
         percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY pv.ttc) AS tc
  FROM mine m
  CROSS JOIN levels l
  JOIN per_venue pv ON (l.level IN (3, 4) OR pv.category = m.category) AND (l.level IN (2, 4) OR pv.city = m.city)
  GROUP BY m.id, l.level, l.scope_name
),
best AS (
  SELECT DISTINCT ON (a.id) a.*
  FROM agg a
  WHERE a.n >= 5
  ORDER BY a.id, a.level
)
SELECT m.id, b.scope_name, b.n::integer,
       b.cr[1], b.cr[2], b.cr[3],
       CASE WHEN b.n_redeem >= 5 THEN b.rr[1] END, CASE WHEN b.n_redeem >= 5 THEN b.rr[2] END,
       CASE WHEN b.n_redeem >= 5 THEN b.rr[3] END,
       CASE WHEN b.n_ttc >= 5 THEN b.tc[1] END, CASE WHEN b.n_ttc >= 5 THEN b.tc[2] END,
       CASE WHEN b.n_ttc >= 5 THEN b.tc[3] END
FROM mine m
LEFT JOIN best b ON b.id = m.id
$$;
REVOKE ALL ON FUNCTION vp_offer_benchmarks(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vp_offer_benchmarks(uuid[]) TO venuepulse_reader, venuepulse_owner;
