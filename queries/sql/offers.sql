-- Offers page: the offers of a period with their live status, and the offer funnel of DESIGN.md.
--
-- Offers "of a period" are those whose window [start_time, end_time) overlaps [from, to).  The funnel of
-- an offer always covers its whole window, whatever the period.  Venue owners see only their venues'
-- offers, events and claims through row-level security; nothing here filters by owner.
--
-- Funnel of one offer o, window W = [o.start_time, o.end_time), per user u (steps in order):
--   targeted  = o.push_recipient_count (the push's recipients; a counter, there is no per-user row)
--   viewed    u has a flash_offer_view analytics event for o inside W;  first_view = the earliest
--   clicked   viewed, and u has a flash_offer_click event for o inside W at or after first_view;
--             first_click = the earliest such click
--   claimed   clicked, and u's claim of o was created inside W at or after first_click
--   redeemed  claimed, and that claim is redeemed
-- time to claim = claim.created_at - first_view; time to redeem = claim.redeemed_at - claim.created_at,
-- both over the users the funnel counts as claimed / redeemed.
-- The per-user steps come from the SQL function offer_funnel_users (migration 0005), shared by both
-- funnel queries below.

-- name: offers.venues --
-- Venues that have at least one offer (for the venue filter).
SELECT v.id AS venue_id, v.name, v.city, count(*) AS offer_count
FROM flash_offers o
JOIN venues v ON v.id = o.venue_id
GROUP BY v.id, v.name, v.city
ORDER BY v.name, v.city, v.id

-- name: offers.list --
-- Offers of the period with live status and raw counters, newest first.
SELECT o.id AS offer_id,
       o.title,
       o.venue_id,
       v.name AS venue_name,
       status(o) AS status,
       now() < o.end_time AS window_open,
       o.start_time,
       o.end_time,
       o.max_claims,
       o.push_sent,
       o.push_sent_at,
       o.push_recipient_count,
       o.view_count,
       o.click_count,
       o.claimed_count,
       o.redeemed_count,
       greatest(o.max_claims - o.claimed_count, 0) AS claims_left,
       now() AS as_of
FROM flash_offers o
JOIN venues v ON v.id = o.venue_id
WHERE o.start_time < %(to)s AND o.end_time > %(from)s
  AND (%(venue_id)s::uuid IS NULL OR o.venue_id = %(venue_id)s::uuid)
ORDER BY o.start_time DESC, o.id
LIMIT %(limit)s

-- name: offers.funnel --
-- One row per offer of the period (offer_id set) plus one total row across them (offer_id NULL).
-- Across offers, "unique users" are (user, offer) pairs and the counters are sums.
WITH sel AS (
  SELECT o.id, o.title, o.start_time, o.end_time, o.push_recipient_count, o.view_count, o.click_count,
         o.claimed_count, o.redeemed_count, now() < o.end_time AS window_open
  FROM flash_offers o
  WHERE o.start_time < %(to)s AND o.end_time > %(from)s
    AND (%(venue_id)s::uuid IS NULL OR o.venue_id = %(venue_id)s::uuid)
    AND (%(offer_id)s::uuid IS NULL OR o.id = %(offer_id)s::uuid)
),
users_agg AS (
  SELECT offer_id, GROUPING(offer_id) = 1 AS is_total,
         count(*) AS viewed_users,
         count(first_click) AS clicked_users,
         count(claimed_at) AS claimed_users,
         count(redeemed_at) AS redeemed_users,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM claimed_at - first_view))
           AS time_to_claim_p50_s,
         percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM claimed_at - first_view))
           AS time_to_claim_p90_s,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM redeemed_at - claimed_at))
           AS time_to_redeem_p50_s,
         percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM redeemed_at - claimed_at))
           AS time_to_redeem_p90_s
  FROM offer_funnel_users(%(from)s, %(to)s, %(venue_id)s::uuid, %(offer_id)s::uuid)
  GROUP BY GROUPING SETS ((offer_id), ())
),
counters AS (
  SELECT id AS offer_id, title, GROUPING(id) = 1 AS is_total,
         count(*) AS offers,
         count(*) FILTER (WHERE window_open) AS offers_open,
         sum(push_recipient_count) AS targeted,
         sum(view_count) AS view_count,
         sum(click_count) AS click_count,
         sum(claimed_count) AS claimed_count,
         sum(redeemed_count) AS redeemed_count
  FROM sel
  GROUP BY GROUPING SETS ((id, title), ())
)
SELECT c.offer_id,
       c.title,
       c.is_total,
       c.offers::bigint AS offers,
       c.offers_open::bigint AS offers_open,
       c.offers_open = 0 AS is_final,
       coalesce(c.targeted, 0)::bigint AS targeted,
       coalesce(u.viewed_users, 0)::bigint AS viewed_users,
       coalesce(u.clicked_users, 0)::bigint AS clicked_users,
       coalesce(u.claimed_users, 0)::bigint AS claimed_users,
       coalesce(u.redeemed_users, 0)::bigint AS redeemed_users,
       coalesce(c.view_count, 0)::bigint AS view_count,
       coalesce(c.click_count, 0)::bigint AS click_count,
       coalesce(c.claimed_count, 0)::bigint AS claimed_count,
       coalesce(c.redeemed_count, 0)::bigint AS redeemed_count,
       u.time_to_claim_p50_s,
       u.time_to_claim_p90_s,
       u.time_to_redeem_p50_s,
       u.time_to_redeem_p90_s,
       now() AS as_of
FROM counters c
LEFT JOIN users_agg u ON u.is_total = c.is_total AND u.offer_id IS NOT DISTINCT FROM c.offer_id
ORDER BY c.is_total, c.offer_id

-- name: offers.conversion_by_day --
-- The same ordered funnel, grouped by the UTC day of each (user, offer) pair's first view, for first
-- views inside [from, to): of the users who first saw an offer that day, how many went on.
SELECT (date_trunc('day', first_view AT TIME ZONE 'UTC'))::date AS day,
       count(*)::bigint AS viewed_users,
       count(first_click)::bigint AS clicked_users,
       count(claimed_at)::bigint AS claimed_users,
       count(redeemed_at)::bigint AS redeemed_users
FROM offer_funnel_users(%(from)s, %(to)s, %(venue_id)s::uuid, %(offer_id)s::uuid)
WHERE first_view >= %(from)s AND first_view < %(to)s
GROUP BY 1
ORDER BY 1
