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
-- Venues that have at least one offer (for the venue filter), by name: at most %(limit)s of them, those
-- whose name or city contains %(q)s ('' = any), or only %(venue_id)s when given.  Unrestricted roles walk
-- idx_venues_name (migration 0019) with an EXISTS probe into idx_flash_offers_venue_start, so the cost
-- follows the list shown, not the number of venues; a venue owner's connection starts from its own venue
-- ids instead (the row-level policy's OR would make the walk read every venue).
WITH sc AS (SELECT (SELECT vp_is_scoped_role()) AS scoped),
w AS (
  SELECT v.id, v.name, v.city FROM venues v
  WHERE NOT (SELECT scoped FROM sc)
    AND (%(venue_id)s::uuid IS NULL OR v.id = %(venue_id)s::uuid)
    AND (%(q)s::text = '' OR strpos(lower(v.name), lower(%(q)s::text)) > 0
         OR strpos(lower(v.city), lower(%(q)s::text)) > 0)
    AND EXISTS (SELECT 1 FROM flash_offers o WHERE o.venue_id = v.id)
  ORDER BY v.name, v.city, v.id
  LIMIT %(limit)s
),
own AS (
  SELECT v.id, v.name, v.city FROM venues v
  WHERE (SELECT scoped FROM sc) AND v.id = ANY ((SELECT vp_scope_venue_ids())::uuid[])
    AND (%(venue_id)s::uuid IS NULL OR v.id = %(venue_id)s::uuid)
    AND (%(q)s::text = '' OR strpos(lower(v.name), lower(%(q)s::text)) > 0
         OR strpos(lower(v.city), lower(%(q)s::text)) > 0)
    AND EXISTS (SELECT 1 FROM flash_offers o WHERE o.venue_id = v.id)
  ORDER BY v.name, v.city, v.id
  LIMIT %(limit)s
)
SELECT x.id AS venue_id, x.name, x.city,
       (SELECT count(*) FROM flash_offers o WHERE o.venue_id = x.id) AS offer_count
FROM (SELECT * FROM w UNION ALL SELECT * FROM own) x
ORDER BY x.name, x.city, x.id

-- name: offers.list --
-- Offers of the period with live status and raw counters, newest start first, at most %(limit)s.  Two
-- index walks that stop at the limit: offers starting inside the period (by start_time), then, only
-- when those are fewer than the limit, offers that started before it and end inside or after it (their
-- window contains its start: idx_flash_offers_during, revision 0019) -- so no walk reads older history.
WITH a AS (
  SELECT o.id, o.start_time FROM flash_offers o
  WHERE o.start_time >= %(from)s AND o.start_time < %(to)s
    AND (%(venue_id)s::uuid IS NULL OR o.venue_id = %(venue_id)s::uuid)
  ORDER BY o.start_time DESC, o.id
  LIMIT %(limit)s
),
b AS (
  SELECT o.id, o.start_time FROM flash_offers o
  WHERE tstzrange(o.start_time, o.end_time) @> %(from)s::timestamptz AND o.start_time < %(from)s
    AND o.start_time < %(to)s
    AND (%(venue_id)s::uuid IS NULL OR o.venue_id = %(venue_id)s::uuid)
    AND (SELECT count(*) FROM a) < %(limit)s
  ORDER BY o.start_time DESC, o.id
  LIMIT %(limit)s
),
ids AS (
  SELECT id, start_time FROM (SELECT * FROM a UNION ALL SELECT * FROM b) u
  ORDER BY start_time DESC, id
  LIMIT %(limit)s
)
SELECT o.id AS offer_id,
       o.title,
       o.venue_id,
       (SELECT v.name FROM venues v WHERE v.id = o.venue_id) AS venue_name,
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
-- by primary key (a join here was planned as a hash over every offer)
WHERE o.id = ANY (ARRAY(SELECT id FROM ids))
ORDER BY o.start_time DESC, o.id

-- name: offers.funnel --
-- One row per offer of the period (offer_id set) plus one total row across them (offer_id NULL).
-- Across offers, "unique users" are (user, offer) pairs and the counters are sums.  The ordered funnel
-- of an offer comes from rollup_offer_funnel (its users per step and every time to claim and to
-- redeem, so percentiles across offers stay exact); an offer changed since the last fold (or never
-- folded) is counted from its events with offer_funnel_users instead.
-- Like a breakdown limit, the per-offer rows can be cut to the %(top)s offers with the most claimed users
-- (NULL = every offer) -- plus the %(best)s best converting offers among those with at least
-- %(min_viewers)s viewers (claimed / viewed, then claimed, then offer id), so the page's "best
-- converting" panel stays exact; in_top marks the breakdown's rows.  The total is over every offer.
WITH sel AS (
  SELECT o.id, o.title, o.start_time, o.end_time, o.push_recipient_count, o.view_count, o.click_count,
         o.claimed_count, o.redeemed_count, now() < o.end_time AS window_open
  FROM flash_offers o
  WHERE o.start_time < %(to)s AND o.end_time > %(from)s
    AND (%(venue_id)s::uuid IS NULL OR o.venue_id = %(venue_id)s::uuid)
    AND (%(offer_id)s::uuid IS NULL OR o.id = %(offer_id)s::uuid)
),
changed AS (
  SELECT DISTINCT l.offer_id FROM rollup_log l
  WHERE l.src IN ('e', 'k', 'o') AND l.offer_id IS NOT NULL
    AND NOT pg_visible_in_snapshot(l.xid, (SELECT c.snap FROM rollup_consumers c WHERE c.consumer = 'activity'))
),
live AS (
  SELECT s.id FROM sel s
  WHERE s.id IN (SELECT offer_id FROM changed)
     OR NOT EXISTS (SELECT 1 FROM rollup_offer_funnel r WHERE r.offer_id = s.id)
),
per_offer AS (
  SELECT r.offer_id, r.viewed_users, r.clicked_users, r.claimed_users, r.redeemed_users,
         r.claim_seconds, r.redeem_seconds, r.claim_p50_s, r.claim_p90_s, r.redeem_p50_s, r.redeem_p90_s
  FROM sel s JOIN rollup_offer_funnel r ON r.offer_id = s.id
  WHERE s.id NOT IN (SELECT id FROM live)
  UNION ALL
  SELECT f.offer_id, count(*), count(f.first_click), count(f.claimed_at), count(f.redeemed_at),
         coalesce(array_agg(extract(epoch FROM f.claimed_at - f.first_view)::float8)
                    FILTER (WHERE f.claimed_at IS NOT NULL), '{}'),
         coalesce(array_agg(extract(epoch FROM f.redeemed_at - f.claimed_at)::float8)
                    FILTER (WHERE f.redeemed_at IS NOT NULL), '{}'),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM f.claimed_at - f.first_view)),
         percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM f.claimed_at - f.first_view)),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM f.redeemed_at - f.claimed_at)),
         percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM f.redeemed_at - f.claimed_at))
  FROM live
  CROSS JOIN LATERAL offer_funnel_users('-infinity', 'infinity', NULL, live.id) f
  GROUP BY f.offer_id
),
-- across offers: every counted user's time once (per offer, the kept percentiles)
total_pct AS (
  SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY t.v) AS p50, percentile_cont(0.9) WITHIN GROUP (ORDER BY t.v) AS p90
  FROM per_offer p, unnest(p.claim_seconds) AS t(v)
),
total_rpct AS (
  SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY t.v) AS p50, percentile_cont(0.9) WITHIN GROUP (ORDER BY t.v) AS p90
  FROM per_offer p, unnest(p.redeem_seconds) AS t(v)
),
users_agg AS (
  SELECT p.offer_id, false AS is_total, p.viewed_users, p.clicked_users, p.claimed_users, p.redeemed_users,
         p.claim_p50_s AS time_to_claim_p50_s, p.claim_p90_s AS time_to_claim_p90_s,
         p.redeem_p50_s AS time_to_redeem_p50_s, p.redeem_p90_s AS time_to_redeem_p90_s
  FROM per_offer p
  UNION ALL
  SELECT NULL, true, sum(p.viewed_users), sum(p.clicked_users), sum(p.claimed_users), sum(p.redeemed_users),
         (SELECT p50 FROM total_pct), (SELECT p90 FROM total_pct), (SELECT p50 FROM total_rpct),
         (SELECT p90 FROM total_rpct)
  FROM per_offer p
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
),
res AS (
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
-- a hashable key (IS NOT DISTINCT FROM would compare every offer with every other)
LEFT JOIN users_agg u ON u.is_total = c.is_total
 AND coalesce(u.offer_id, '00000000-0000-0000-0000-000000000000') = coalesce(c.offer_id, '00000000-0000-0000-0000-000000000000')
),
ranked AS (
  SELECT res.*,
         row_number() OVER (PARTITION BY res.is_total
                            ORDER BY res.claimed_users DESC, res.viewed_users DESC, res.offer_id) AS claim_rank,
         row_number() OVER (PARTITION BY res.is_total, res.viewed_users >= %(min_viewers)s
                            ORDER BY res.claimed_users::float8 / nullif(res.viewed_users, 0) DESC NULLS LAST,
                                     res.claimed_users DESC, res.offer_id) AS rate_rank
  FROM res
)
SELECT r.offer_id, r.title, r.is_total, r.offers, r.offers_open, r.is_final, r.targeted, r.viewed_users,
       r.clicked_users, r.claimed_users, r.redeemed_users, r.view_count, r.click_count, r.claimed_count,
       r.redeemed_count, r.time_to_claim_p50_s, r.time_to_claim_p90_s, r.time_to_redeem_p50_s,
       r.time_to_redeem_p90_s, r.as_of,
       (r.is_total OR %(top)s::int IS NULL OR r.claim_rank <= %(top)s::int) AS in_top
FROM ranked r
WHERE r.is_total OR %(top)s::int IS NULL OR r.claim_rank <= %(top)s::int
   OR (r.viewed_users >= %(min_viewers)s AND r.rate_rank <= %(best)s)
ORDER BY r.is_total, r.offer_id

-- name: offers.conversion_by_day --
-- The same ordered funnel, grouped by the UTC day of each (user, offer) pair's first view, for first
-- views inside [from, to): of the users who first saw an offer that day, how many went on.  For whole
-- UTC days (what the page asks) the folded offers come from rollup_offer_days and the offers changed
-- since the last fold from their events; any other range is counted from the events.
WITH p AS (
  SELECT %(from)s::timestamptz AS a, %(to)s::timestamptz AS b,
         %(from)s::timestamptz = date_trunc('day', %(from)s::timestamptz, 'UTC')
         AND %(to)s::timestamptz = date_trunc('day', %(to)s::timestamptz, 'UTC') AS whole_days
),
sel AS (
  SELECT o.id FROM flash_offers o
  WHERE o.start_time < %(to)s AND o.end_time > %(from)s
    AND (%(venue_id)s::uuid IS NULL OR o.venue_id = %(venue_id)s::uuid)
    AND (%(offer_id)s::uuid IS NULL OR o.id = %(offer_id)s::uuid)
),
changed AS (
  SELECT DISTINCT l.offer_id FROM rollup_log l
  WHERE l.src IN ('e', 'k', 'o') AND l.offer_id IS NOT NULL
    AND NOT pg_visible_in_snapshot(l.xid, (SELECT c.snap FROM rollup_consumers c WHERE c.consumer = 'activity'))
),
live AS (
  SELECT s.id FROM sel s
  WHERE s.id IN (SELECT offer_id FROM changed)
     OR NOT EXISTS (SELECT 1 FROM rollup_offer_funnel r WHERE r.offer_id = s.id)
),
x AS (
  SELECT (d.bucket AT TIME ZONE 'UTC')::date AS day, d.viewed_users, d.clicked_users, d.claimed_users,
         d.redeemed_users
  FROM sel s JOIN rollup_offer_days d ON d.offer_id = s.id, p
  WHERE p.whole_days AND s.id NOT IN (SELECT id FROM live) AND d.bucket >= p.a AND d.bucket < p.b
  UNION ALL
  SELECT (date_trunc('day', f.first_view AT TIME ZONE 'UTC'))::date, 1, (f.first_click IS NOT NULL)::int,
         (f.claimed_at IS NOT NULL)::int, (f.redeemed_at IS NOT NULL)::int
  FROM live CROSS JOIN LATERAL offer_funnel_users('-infinity', 'infinity', NULL, live.id) f, p
  WHERE p.whole_days AND f.first_view >= p.a AND f.first_view < p.b
  UNION ALL
  SELECT (date_trunc('day', f.first_view AT TIME ZONE 'UTC'))::date, 1, (f.first_click IS NOT NULL)::int,
         (f.claimed_at IS NOT NULL)::int, (f.redeemed_at IS NOT NULL)::int
  FROM p, offer_funnel_users(%(from)s, %(to)s, %(venue_id)s::uuid, %(offer_id)s::uuid) f
  WHERE NOT p.whole_days AND f.first_view >= p.a AND f.first_view < p.b
)
SELECT day,
       sum(viewed_users)::bigint AS viewed_users,
       sum(clicked_users)::bigint AS clicked_users,
       sum(claimed_users)::bigint AS claimed_users,
       sum(redeemed_users)::bigint AS redeemed_users
FROM x
GROUP BY day
HAVING sum(viewed_users) > 0
ORDER BY day

-- name: offers.benchmarks --
-- Each given offer of the caller's venues against similar offers of at least 5 other venues: the peer
-- quartiles come from vp_offer_benchmarks (migration 0009, aggregates only; offers outside the
-- transaction's venue scope are not answered), the offer's own rates from its counters and claims.
-- Time to claim here runs from the offer's start to the claim (the same measure as the peers').
SELECT o.id AS offer_id, o.title, o.start_time,
       o.claimed_count::float8 / nullif(o.view_count, 0) AS claim_rate,
       o.redeemed_count::float8 / nullif(o.claimed_count, 0) AS redeem_rate,
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.created_at - o.start_time))
        FROM flash_offer_claims c WHERE c.offer_id = o.id) AS time_to_claim_s,
       b.peer_scope, b.peer_venues,
       b.claim_rate_p25, b.claim_rate_p50, b.claim_rate_p75,
       b.redeem_rate_p25, b.redeem_rate_p50, b.redeem_rate_p75,
       b.time_to_claim_p25_s, b.time_to_claim_p50_s, b.time_to_claim_p75_s
FROM vp_offer_benchmarks(%(offer_ids)s::uuid[]) b
JOIN flash_offers o ON o.id = b.offer_id
ORDER BY o.start_time DESC, o.id

-- name: offers.when --
-- Claims and redemptions of the offers of the period (one venue's when given), counted by day of week
-- (ISO: 1 = Monday) and hour of day in each venue's own time zone (venues.timezone).  Owners see only their
-- venues' claims through row-level security.
-- For an unrestricted reader, no venue and whole UTC days (what the page asks), the offers that started
-- inside the period come from rollup_offer_when_days (revision 0019: per UTC start day, kept by the
-- activity fold) and only the rest is counted from claims: the offers that started before the period and
-- end inside or after it, and the offers changed since the last fold (their folded counts subtracted,
-- rollup_offer_when, and their claims counted as they are now).  Anything else is counted from claims.
WITH sc AS (
  SELECT NOT (SELECT vp_is_scoped_role()) AND %(venue_id)s::uuid IS NULL
         AND %(from)s::timestamptz = date_trunc('day', %(from)s::timestamptz, 'UTC')
         AND %(to)s::timestamptz = date_trunc('day', %(to)s::timestamptz, 'UTC') AS rolled
),
changed AS (
  SELECT DISTINCT l.offer_id FROM rollup_log l
  WHERE (SELECT rolled FROM sc) AND l.src IN ('e', 'k', 'o') AND l.offer_id IS NOT NULL
    AND NOT pg_visible_in_snapshot(l.xid, (SELECT c.snap FROM rollup_consumers c WHERE c.consumer = 'activity'))
),
sel AS (
  SELECT o.id, v.timezone
  FROM flash_offers o
  JOIN venues v ON v.id = o.venue_id
  WHERE NOT (SELECT rolled FROM sc) AND o.start_time < %(to)s AND o.end_time > %(from)s
    AND (%(venue_id)s::uuid IS NULL OR o.venue_id = %(venue_id)s::uuid)
  UNION ALL
  SELECT o.id, (SELECT v.timezone FROM venues v WHERE v.id = o.venue_id)
  FROM flash_offers o
  WHERE (SELECT rolled FROM sc) AND tstzrange(o.start_time, o.end_time) @> %(from)s::timestamptz
    AND o.start_time < %(from)s
  UNION ALL
  SELECT o.id, (SELECT v.timezone FROM venues v WHERE v.id = o.venue_id)
  FROM flash_offers o
  WHERE (SELECT rolled FROM sc) AND o.id IN (SELECT offer_id FROM changed)
    AND o.start_time >= %(from)s AND o.start_time < %(to)s
),
-- each offer's claims by its index (OFFSET 0 keeps the planner from hashing every claim ever made)
raw AS (
  SELECT t.kind, t.at AT TIME ZONE s.timezone AS local_at
  FROM sel s
  CROSS JOIN LATERAL (SELECT c.created_at, c.redeemed_at FROM flash_offer_claims c
                      WHERE c.offer_id = s.id OFFSET 0) c
  CROSS JOIN LATERAL (VALUES ('claims', c.created_at), ('redemptions', c.redeemed_at)) AS t(kind, at)
  WHERE t.at IS NOT NULL
),
x AS (
  SELECT kind, extract(isodow FROM local_at)::int AS weekday, extract(hour FROM local_at)::int AS hour, 1::bigint AS n
  FROM raw
  UNION ALL
  SELECT d.kind, d.weekday, d.hour, d.n FROM rollup_offer_when_days d
  WHERE (SELECT rolled FROM sc) AND d.day >= %(from)s AND d.day < %(to)s
  UNION ALL
  SELECT w.kind, w.weekday, w.hour, -w.n FROM rollup_offer_when w
  WHERE (SELECT rolled FROM sc) AND w.offer_id IN (SELECT offer_id FROM changed)
    AND w.day >= %(from)s AND w.day < %(to)s
)
SELECT kind, weekday, hour, sum(n)::bigint AS n
FROM x
GROUP BY kind, weekday, hour
HAVING sum(n) > 0
ORDER BY kind, weekday, hour
