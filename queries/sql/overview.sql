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
-- stored state (is_active, what the venue counters count); active a week ago is recounted from the
-- check-in intervals [checked_in_at, checked_out_at) that contain that instant (an active check-in's
-- interval is still open; an ended one without a checkout time is not counted, its end being unknown).
WITH w AS (
  SELECT n AS now_at,
         date_trunc('day', n AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day_start,
         n - interval '7 days' AS prev_now,
         (date_trunc('day', n AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') - interval '7 days' AS prev_day_start
  FROM (SELECT coalesce(%(now)s::timestamptz, now()) AS n) t
)
SELECT w.now_at, w.day_start, w.prev_day_start, w.prev_now,
  (SELECT count(*) FROM check_ins c
    WHERE c.checked_in_at >= w.day_start AND c.checked_in_at < w.now_at) AS check_ins_today,
  (SELECT count(*) FROM check_ins c
    WHERE c.checked_in_at >= w.prev_day_start AND c.checked_in_at < w.prev_now) AS check_ins_last_week,
  (SELECT count(*) FROM check_ins c WHERE c.is_active) AS active_check_ins_today,
  (SELECT count(*) FROM check_ins c
    WHERE c.checked_in_at <= w.prev_now
      AND (c.checked_out_at > w.prev_now OR (c.checked_out_at IS NULL AND c.is_active))) AS active_check_ins_last_week,
  (SELECT count(*) FROM reviews r
    WHERE r.created_at >= w.day_start AND r.created_at < w.now_at) AS reviews_today,
  (SELECT count(*) FROM reviews r
    WHERE r.created_at >= w.prev_day_start AND r.created_at < w.prev_now) AS reviews_last_week,
  (SELECT count(*) FROM flash_offer_claims fc
    WHERE fc.created_at >= w.day_start AND fc.created_at < w.now_at) AS claims_today,
  (SELECT count(*) FROM flash_offer_claims fc
    WHERE fc.created_at >= w.prev_day_start AND fc.created_at < w.prev_now) AS claims_last_week,
  (SELECT count(*) FROM flash_offer_claims fc
    WHERE fc.redeemed_at >= w.day_start AND fc.redeemed_at < w.now_at) AS redemptions_today,
  (SELECT count(*) FROM flash_offer_claims fc
    WHERE fc.redeemed_at >= w.prev_day_start AND fc.redeemed_at < w.prev_now) AS redemptions_last_week
FROM w

-- name: overview.trends --
-- cache: 60 overview
-- timeout: 15s
-- One row per UTC bucket (hour, day or week; weeks start on Monday) from the bucket holding `start`
-- up to `end` (exclusive).  Events are counted only inside [start, end), so the first and last
-- buckets of a week grain may be partial.  Buckets without events are present with zeros.
WITH series AS (
  SELECT gs AS bucket
  FROM generate_series(date_trunc(%(grain)s, %(start)s::timestamptz AT TIME ZONE 'UTC'),
                       (%(end)s::timestamptz AT TIME ZONE 'UTC') - interval '1 microsecond',
                       ('1 ' || %(grain)s)::interval) AS gs
),
ci AS (
  SELECT date_trunc(%(grain)s, checked_in_at AT TIME ZONE 'UTC') AS bucket, count(*) AS n,
         count(DISTINCT user_id) AS visitors
  FROM check_ins WHERE checked_in_at >= %(start)s AND checked_in_at < %(end)s GROUP BY 1
),
rv AS (
  SELECT date_trunc(%(grain)s, created_at AT TIME ZONE 'UTC') AS bucket, count(*) AS n
  FROM reviews WHERE created_at >= %(start)s AND created_at < %(end)s GROUP BY 1
),
cl AS (
  SELECT date_trunc(%(grain)s, created_at AT TIME ZONE 'UTC') AS bucket, count(*) AS n
  FROM flash_offer_claims WHERE created_at >= %(start)s AND created_at < %(end)s GROUP BY 1
),
rd AS (
  SELECT date_trunc(%(grain)s, redeemed_at AT TIME ZONE 'UTC') AS bucket, count(*) AS n
  FROM flash_offer_claims WHERE redeemed_at >= %(start)s AND redeemed_at < %(end)s GROUP BY 1
)
SELECT s.bucket AT TIME ZONE 'UTC' AS bucket,
       coalesce(ci.n, 0) AS check_ins,
       coalesce(ci.visitors, 0) AS unique_visitors,
       coalesce(rv.n, 0) AS reviews,
       coalesce(cl.n, 0) AS claims,
       coalesce(rd.n, 0) AS redemptions
FROM series s
LEFT JOIN ci ON ci.bucket = s.bucket
LEFT JOIN rv ON rv.bucket = s.bucket
LEFT JOIN cl ON cl.bucket = s.bucket
LEFT JOIN rd ON rd.bucket = s.bucket
ORDER BY s.bucket

-- name: overview.top_venues --
-- cache: 60 overview
-- timeout: 10s
-- Venues with the most check-ins in [start, end).
SELECT v.id AS venue_id, v.name, v.category, v.city,
       count(*) AS check_ins,
       count(DISTINCT c.user_id) AS unique_visitors
FROM check_ins c
JOIN venues v ON v.id = c.venue_id
WHERE c.checked_in_at >= %(start)s AND c.checked_in_at < %(end)s
GROUP BY v.id, v.name, v.category, v.city
ORDER BY check_ins DESC, v.name, v.id
LIMIT %(limit)s
