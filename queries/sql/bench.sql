-- Benchmark statements (`venuepulse bench`).  They run only in the bench's own databases.

-- name: bench.refresh_full --
-- kind: maintenance
-- venue_stats recomputed in full from raw rows (what --full and the reconcile job's recount do).
SELECT refresh_venue_stats(true)

-- name: bench.refresh_job --
-- kind: maintenance
-- The refresh job's path: the changes since venue_stats' last fold applied (docs/rollups.md).
SELECT refresh_venue_stats()

-- name: bench.spread_check_ins --
-- kind: maintenance
-- `n` check-ins through the contract function, users and venues spread at random (reproducible by
-- `seed`) over the numbered bench users and venues; each ends its user's previous active check-in.
SELECT count(check_in(u.id, v.id)) AS n
FROM generate_series(1, %(n)s::int) AS g(i)
JOIN vp_bench_users u ON u.n = 1 + (hashint4(g.i * 7919 + %(seed)s::int) & 2147483647) %% %(users)s::int
JOIN vp_bench_venues v ON v.n = 1 + (hashint4(g.i * 104729 + %(seed)s::int) & 2147483647) %% %(venues)s::int

-- name: bench.log_rows --
SELECT count(*) AS n FROM rollup_log

-- name: bench.capture_off --
-- kind: maintenance
-- The rollups' capture off (to measure what it costs a writer); bench.capture_on undoes it.  Since
-- revision 0016 the six source tables capture inside the write path's triggers, which skip it for
-- sessions with venuepulse.capture = off (pgbench's sessions get it at connection start: bench.pgbench's
-- capture=False); the capture triggers left (notifications, pairs, venues, offers) are disabled here.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           WHERE t.tgname LIKE 'vp\_capture\_%%' AND NOT t.tgisinternal AND c.relkind IN ('r', 'p') LOOP
    EXECUTE format('ALTER TABLE %%I DISABLE TRIGGER %%I', r.relname, r.tgname);
  END LOOP;
END
$$

-- name: bench.capture_on --
-- kind: maintenance
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           WHERE t.tgname LIKE 'vp\_capture\_%%' AND NOT t.tgisinternal AND c.relkind IN ('r', 'p') LOOP
    EXECUTE format('ALTER TABLE %%I ENABLE TRIGGER %%I', r.relname, r.tgname);
  END LOOP;
END
$$

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
DROP TABLE IF EXISTS vp_bench_users, vp_bench_venues, vp_bench_offers

-- name: bench.number_users --
-- kind: maintenance
-- Numbered users and venues for pgbench scripts to pick from (pgbench draws integers, not uuids).
CREATE TABLE vp_bench_users AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM users

-- name: bench.number_venues --
-- kind: maintenance
CREATE TABLE vp_bench_venues AS
SELECT row_number() OVER (ORDER BY v.total_check_in_count DESC, v.id) AS n, v.id FROM venues v

-- name: bench.index_users --
-- kind: maintenance
ALTER TABLE vp_bench_users ADD PRIMARY KEY (n)

-- name: bench.index_venues --
-- kind: maintenance
ALTER TABLE vp_bench_venues ADD PRIMARY KEY (n)

-- name: bench.writer_counts --
SELECT (SELECT count(*) FROM vp_bench_users) AS users, (SELECT count(*) FROM vp_bench_venues) AS venues,
       (SELECT count(*) FROM vp_bench_offers) AS offers

-- name: bench.database_exists --
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %(name)s) AS exists

-- name: bench.app_rows --
SELECT (SELECT count(*) FROM check_ins) AS check_ins, (SELECT count(*) FROM venues) AS venues,
       (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM flash_offers) AS offers,
       (SELECT count(*) FROM event_stream) AS events, pg_database_size(current_database()) AS bytes

-- name: bench.create_offers --
-- kind: maintenance
-- Offers for the claim and offer-event scripts: running for a day, never full, at the busiest venues;
-- deleted afterwards (bench.delete_bench_offers).
CREATE TABLE vp_bench_offers (n bigint PRIMARY KEY, id uuid NOT NULL)

-- name: bench.number_offers --
-- kind: maintenance
WITH o AS (
  INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time, push_sent, push_sent_at)
  SELECT v.id, 'bench offer', 'venuepulse bench', 2000000000, now() - interval '1 hour', now() + interval '1 day',
         true, now()
  FROM vp_bench_venues v WHERE v.n <= 200
  RETURNING id)
INSERT INTO vp_bench_offers (n, id) SELECT row_number() OVER (ORDER BY id), id FROM o

-- name: bench.delete_bench_offers --
-- kind: maintenance
-- timeout: 10min
DELETE FROM flash_offers WHERE title = 'bench offer' AND description = 'venuepulse bench'

-- name: bench.breakdown_settings --
-- kind: maintenance
-- Nested statements (trigger bodies, functions) and plpgsql functions' times for this session.
SELECT set_config('pg_stat_statements.track', 'all', false), set_config('track_functions', 'all', false)

-- name: bench.breakdown_reset --
-- kind: maintenance
SELECT pg_stat_statements_reset() IS NULL AS statements, pg_stat_reset() IS NULL AS functions

-- name: bench.breakdown_users --
SELECT id FROM vp_bench_users ORDER BY random() LIMIT 5000

-- name: bench.breakdown_venues --
SELECT id FROM vp_bench_venues ORDER BY random() LIMIT 5000

-- name: bench.breakdown_check_in --
-- kind: write
SELECT check_in(%(user_id)s, %(venue_id)s)

-- name: bench.breakdown_flush --
-- kind: maintenance
SELECT pg_stat_force_next_flush() IS NULL AS flushed

-- name: bench.breakdown_statements --
-- kind: maintenance
-- check_in() itself (top level) and every statement it ran, nested ones included (a statement's time
-- includes the statements it calls in turn).
SELECT s.toplevel, s.calls, s.total_exec_time AS total_ms, left(regexp_replace(s.query, '\s+', ' ', 'g'), 160) AS query
FROM pg_stat_statements s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND (NOT s.toplevel OR s.query LIKE 'SELECT check_in(%%')
ORDER BY s.toplevel DESC, s.total_exec_time DESC

-- name: bench.breakdown_functions --
-- kind: maintenance
-- Self time per function (its own statements, not the functions it calls): a partition of the total.
SELECT funcname AS function, calls, self_time AS self_ms, total_time AS total_ms
FROM pg_stat_user_functions
ORDER BY self_time DESC
