-- Overview page: today vs the same hours of the same weekday a week ago, and trends over a date range.
-- All windows are UTC and half-open [start, end).  The tables read here carry row-level security, so a
-- venue owner's numbers cover only their own venues.

-- name: overview.presence --
-- timeout: 5s
SELECT (SELECT count(*) FROM venues) AS venue_count,
       EXISTS (SELECT 1 FROM check_ins) OR EXISTS (SELECT 1 FROM reviews)
         OR EXISTS (SELECT 1 FROM flash_offer_claims) AS has_activity

-- name: overview.kpis --
-- cache: 30 overview
-- timeout: 10s
-- "today" = [UTC midnight, now); "last week" = the same window moved 7 days back.  Active now is the
-- stored state (is_active); active a week ago is recounted from the check-in intervals
-- [checked_in_at, checked_out_at) that contain that instant (an active check-in's interval is still
-- open; an ended one without a checkout time is not counted, its end being unknown): check-ins started
-- by then minus those ended by then.  Each window is counted by vp_activity_counts (migration 0007):
-- whole buckets from the rollups, unfolded changes from the log, the rest from raw rows.
WITH w AS (
  SELECT n AS now_at,
         date_trunc('day', n, 'UTC') AS day_start,
         n - interval '7 days' AS prev_now,
         date_trunc('day', n, 'UTC') - interval '7 days' AS prev_day_start
  FROM (SELECT coalesce(%(now)s::timestamptz, now()) AS n) t
)
SELECT w.now_at, w.day_start, w.prev_day_start, w.prev_now,
  td.check_ins AS check_ins_today, lw.check_ins AS check_ins_last_week,
  ever.active AS active_check_ins_today, (upto.starts - upto.ends) AS active_check_ins_last_week,
  td.reviews AS reviews_today, lw.reviews AS reviews_last_week,
  td.claims AS claims_today, lw.claims AS claims_last_week,
  td.redemptions AS redemptions_today, lw.redemptions AS redemptions_last_week
FROM w
CROSS JOIN LATERAL vp_activity_counts(w.day_start, w.now_at) td
CROSS JOIN LATERAL vp_activity_counts(w.prev_day_start, w.prev_now) lw
CROSS JOIN LATERAL vp_activity_counts('-infinity', 'infinity') ever
CROSS JOIN LATERAL vp_activity_counts('-infinity', w.prev_now + interval '1 microsecond') upto

-- name: overview.trends --
-- cache: 60 overview
-- timeout: 15s
-- One row per UTC bucket (hour, day or week; weeks start on Monday) from the bucket holding `start`
-- up to `end` (exclusive).  Events are counted only inside [start, end), so the first and last
-- buckets of a week grain may be partial.  Buckets without events are present with zeros.  Counts
-- come from vp_activity_parts, unique visitors (distinct per bucket) from vp_visitors_series.
WITH p AS (
  SELECT %(start)s::timestamptz AS a, %(end)s::timestamptz AS b, %(grain)s::text AS g
),
series AS (
  SELECT gs AT TIME ZONE 'UTC' AS bucket
  FROM p, generate_series(date_trunc(p.g, p.a AT TIME ZONE 'UTC'),
                          (p.b AT TIME ZONE 'UTC') - interval '1 microsecond',
                          ('1 ' || p.g)::interval) AS gs
),
counts AS (
  SELECT date_trunc(p.g, x.at, 'UTC') AS bucket, sum(x.check_ins) AS check_ins, sum(x.reviews) AS reviews,
         sum(x.claims) AS claims, sum(x.redemptions) AS redemptions
  FROM p, vp_activity_parts(p.a, p.b, CASE WHEN p.g = 'hour' THEN 'hour' ELSE 'day' END) x
  GROUP BY 1
),
visitors AS (
  SELECT v.bucket, v.visitors FROM p, vp_visitors_series(p.a, p.b, p.g) v
)
SELECT s.bucket,
       coalesce(c.check_ins, 0)::bigint AS check_ins,
       coalesce(v.visitors, 0)::bigint AS unique_visitors,
       coalesce(c.reviews, 0)::bigint AS reviews,
       coalesce(c.claims, 0)::bigint AS claims,
       coalesce(c.redemptions, 0)::bigint AS redemptions
FROM series s
LEFT JOIN counts c ON c.bucket = s.bucket
LEFT JOIN visitors v ON v.bucket = s.bucket
ORDER BY s.bucket

-- name: overview.top_venues --
-- cache: 60 overview
-- timeout: 10s
-- Venues with the most check-ins in [start, end) (vp_top_venues: the per-day rollups, the unfolded
-- changes and the parts of days at either end, without adding up every venue), then each listed
-- venue's distinct visitors over the range (vp_venue_visitors: its days' visitor sets).
SELECT v.id AS venue_id, v.name, v.category, v.city, t.check_ins,
       vp_venue_visitors(t.venue_id, %(start)s::timestamptz, %(end)s::timestamptz) AS unique_visitors
FROM vp_top_venues(%(start)s::timestamptz, %(end)s::timestamptz, %(limit)s::int) t
JOIN venues v ON v.id = t.venue_id
ORDER BY t.check_ins DESC, v.name, v.id
