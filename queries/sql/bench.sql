-- Benchmark statements (`venuepulse bench`).  They run only in the bench's own databases.

-- name: bench.refresh_full --
-- kind: maintenance
REFRESH MATERIALIZED VIEW venue_stats

-- name: bench.refresh_job --
-- kind: maintenance
-- The refresh job's path: REFRESH ... CONCURRENTLY (the view is populated), which also diffs old and new.
SELECT refresh_venue_stats()

-- name: bench.aggregate_floor --
-- kind: maintenance
-- The floor for a venue_stats refresh: every source grouped by venue once, computing the same aggregates
-- as the view, nothing joined or written. Each count() takes the whole row (`count(a)`): counting only
-- the groups would let the planner drop the unused aggregates (EXPLAIN VERBOSE shows them as NULL), and
-- the "floor" would be a bare GROUP BY venue_id without the count(DISTINCT) sorts.
SELECT
  (SELECT count(a) FROM (SELECT venue_id, count(DISTINCT user_id), count(*),
                                count(*) FILTER (WHERE checked_in_at > now() - interval '7 days'),
                                count(*) FILTER (WHERE is_active), max(checked_in_at)
                         FROM check_ins GROUP BY venue_id) a)
+ (SELECT count(b) FROM (SELECT venue_id, count(*), avg(rating), count(*) FILTER (WHERE is_verified), max(created_at)
                         FROM reviews GROUP BY venue_id) b)
+ (SELECT count(c) FROM (SELECT venue_id, count(DISTINCT user_id) FROM favorites GROUP BY venue_id) c)
+ (SELECT count(d) FROM (SELECT venue_id, count(DISTINCT collection_id) FROM collection_venues GROUP BY venue_id) d)
+ (SELECT count(e) FROM (SELECT venue_id, count(*) FROM flash_offers GROUP BY venue_id) e)
+ (SELECT count(f) FROM (SELECT o.venue_id, count(DISTINCT c.user_id)
                         FROM flash_offer_claims c JOIN flash_offers o ON o.id = c.offer_id GROUP BY o.venue_id) f)
  AS groups

-- name: bench.sample_venues --
-- A reproducible pseudo-random sample of venues.
SELECT id FROM venues ORDER BY md5(id::text) LIMIT %(n)s

-- name: bench.review_venue_stats --
-- kind: maintenance
-- The review's venue_stats SELECT verbatim, restricted to a sample of venues.
SELECT
  v.id as venue_id,
  COUNT(DISTINCT ci.user_id) as total_unique_visitors,
  COUNT(ci.id) as total_check_ins,
  COUNT(r.id) as review_count,
  COUNT(DISTINCT f.user_id) as favorite_count,
  COUNT(DISTINCT cv.collection_id) as collection_count,
  COUNT(DISTINCT fo.id) as flash_offer_count,
  COUNT(DISTINCT foc.user_id) as flash_offer_claim_count,
  (
    COUNT(ci.id) * 1.0 +
    COUNT(r.id) * 5.0 +
    COUNT(DISTINCT f.user_id) * 3.0 +
    COUNT(DISTINCT foc.user_id) * 2.0
  ) as engagement_score
FROM venues v
LEFT JOIN check_ins ci ON v.id = ci.venue_id
LEFT JOIN reviews r ON v.id = r.venue_id
LEFT JOIN favorites f ON v.id = f.venue_id
LEFT JOIN collection_venues cv ON v.id = cv.venue_id
LEFT JOIN flash_offers fo ON v.id = fo.venue_id
LEFT JOIN flash_offer_claims foc ON fo.id = foc.offer_id
WHERE v.id = ANY (%(ids)s)
GROUP BY v.id, v.name

-- name: bench.our_venue_stats --
SELECT venue_id, total_unique_visitors, total_check_ins, review_count, favorite_count, collection_count,
       flash_offer_count, flash_offer_claim_count, engagement_score
FROM venue_stats WHERE venue_id = ANY (%(ids)s)

-- name: bench.drop_writers --
-- kind: maintenance
DROP TABLE IF EXISTS vp_bench_users, vp_bench_venues

-- name: bench.number_users --
-- kind: maintenance
-- Numbered users and venues for pgbench scripts to pick from (pgbench draws integers, not uuids).
CREATE TABLE vp_bench_users AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM users

-- name: bench.number_venues --
-- kind: maintenance
CREATE TABLE vp_bench_venues AS SELECT row_number() OVER (ORDER BY total_check_in_count DESC, id) AS n, id FROM venues

-- name: bench.index_users --
-- kind: maintenance
ALTER TABLE vp_bench_users ADD PRIMARY KEY (n)

-- name: bench.index_venues --
-- kind: maintenance
ALTER TABLE vp_bench_venues ADD PRIMARY KEY (n)

-- name: bench.writer_counts --
SELECT (SELECT count(*) FROM vp_bench_users) AS users, (SELECT count(*) FROM vp_bench_venues) AS venues

-- name: bench.database_exists --
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %(name)s) AS exists

-- name: bench.app_rows --
SELECT (SELECT count(*) FROM check_ins) AS check_ins, (SELECT count(*) FROM venues) AS venues,
       (SELECT count(*) FROM event_stream) AS events, pg_database_size(current_database()) AS bytes
