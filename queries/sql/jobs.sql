-- The jobs process's bookkeeping (job_runs, advisory locks) and the "Jobs & health" page's reads.

-- name: jobs.try_lock --
-- kind: maintenance
-- Session-level advisory lock of one job: a second scheduler process gets false and skips the run.
SELECT pg_try_advisory_lock(hashtextextended('venuepulse.job:' || %(job)s, 0)) AS locked

-- name: jobs.unlock --
-- kind: maintenance
SELECT pg_advisory_unlock(hashtextextended('venuepulse.job:' || %(job)s, 0)) AS unlocked

-- name: jobs.lock_holder --
-- Which backend holds a job's lock (for the message of a skipped run).
SELECT a.pid, a.application_name, a.client_addr::text AS client_addr, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted
  AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended('venuepulse.job:' || %(job)s, 0)
LIMIT 1

-- name: jobs.abandon_running --
-- kind: maintenance
-- Called while holding the job's lock: a 'running' row of the same job belongs to a process that died.
UPDATE job_runs SET status = 'failed', finished_at = greatest(now(), started_at),
                    error = 'abandoned: the process running it stopped before finishing'
WHERE job_name = %(job)s AND status = 'running'
RETURNING id

-- name: jobs.start_run --
-- kind: maintenance
INSERT INTO job_runs (job_name, scheduled_at, started_at, status, details)
VALUES (%(job)s, %(scheduled_at)s, %(started_at)s, 'running', %(details)s::jsonb)
RETURNING id

-- name: jobs.finish_run --
-- kind: maintenance
UPDATE job_runs SET finished_at = greatest(%(finished_at)s, started_at), status = %(status)s,
                    rows_affected = %(rows)s, error = %(error)s, details = details || %(details)s::jsonb
WHERE id = %(id)s
RETURNING id

-- name: jobs.insert_run --
-- kind: maintenance
-- A whole run at once: skipped runs, and runs that failed while the database was unreachable.
INSERT INTO job_runs (job_name, scheduled_at, started_at, finished_at, status, rows_affected, error, details)
VALUES (%(job)s, %(scheduled_at)s, %(started_at)s, greatest(%(finished_at)s, %(started_at)s), %(status)s,
        %(rows)s, %(error)s, %(details)s::jsonb)
RETURNING id

-- name: jobs.record_timing --
-- kind: maintenance
INSERT INTO query_performance_log (query_name, execution_time_ms, row_count) VALUES (%(name)s, %(ms)s, %(rows)s)

-- name: jobs.last_runs --
-- The latest run of every job, its latest success and failure counts over the last day.
SELECT j.job_name, last.id AS last_run_id, last.scheduled_at AS last_scheduled_at,
       last.started_at AS last_started_at, last.finished_at AS last_finished_at,
       last.status AS last_status, last.rows_affected AS last_rows, last.error AS last_error,
       extract(epoch FROM last.finished_at - last.started_at) * 1000 AS last_duration_ms,
       ok.started_at AS last_success_at,
       day.runs_24h, day.failed_24h, day.skipped_24h
FROM (SELECT DISTINCT job_name FROM job_runs) j
CROSS JOIN LATERAL (SELECT * FROM job_runs r WHERE r.job_name = j.job_name
                    ORDER BY r.started_at DESC, r.id DESC LIMIT 1) last
LEFT JOIN LATERAL (SELECT started_at FROM job_runs r WHERE r.job_name = j.job_name AND r.status = 'succeeded'
                   ORDER BY r.started_at DESC LIMIT 1) ok ON true
CROSS JOIN LATERAL (SELECT count(*) AS runs_24h,
                           count(*) FILTER (WHERE status = 'failed') AS failed_24h,
                           count(*) FILTER (WHERE status = 'skipped') AS skipped_24h
                    FROM job_runs r WHERE r.job_name = j.job_name AND r.started_at > now() - interval '24 hours') day
ORDER BY j.job_name

-- name: jobs.runs --
SELECT id, job_name, scheduled_at, started_at, finished_at, status, rows_affected, error, details,
       extract(epoch FROM finished_at - started_at) * 1000 AS duration_ms,
       extract(epoch FROM started_at - scheduled_at) * 1000 AS start_delay_ms
FROM job_runs
WHERE (%(job)s::text IS NULL OR job_name = %(job)s::text)
  AND (%(start)s::timestamptz IS NULL OR started_at >= %(start)s::timestamptz)
  AND (%(end)s::timestamptz IS NULL OR started_at < %(end)s::timestamptz)
  AND (%(status)s::text IS NULL OR status = %(status)s::text)
ORDER BY started_at DESC, id DESC
LIMIT %(limit)s

-- name: jobs.drift_history --
SELECT d.id, d.job_run_id, d.detected_at, d.kind, d.entity, d.stored, d.expected, d.repaired
FROM counter_drift d
WHERE d.detected_at >= %(start)s AND d.detected_at < %(end)s
ORDER BY d.detected_at DESC, d.id DESC
LIMIT %(limit)s

-- name: jobs.drift_daily --
SELECT date_trunc('day', detected_at) AS day, kind, count(*) AS drifted, count(*) FILTER (WHERE repaired) AS repaired
FROM counter_drift
WHERE detected_at >= %(start)s AND detected_at < %(end)s
GROUP BY 1, 2
ORDER BY 1, 2

-- name: jobs.partition_status --
-- Per partitioned table: partitions, how far ahead of now they reach without a gap, rows in the default.
WITH parts AS (
  SELECT i.parent_table, i.range_start, i.range_end FROM partition_inventory i WHERE NOT i.is_default),
current_period AS (
  SELECT p.parent_table, p.period, p.ahead, p.retention,
         date_trunc(p.period, now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS period_start
  FROM partition_policies p),
-- contiguous coverage from the current period onward (recursive walk over adjacent partitions)
covered AS (
  WITH RECURSIVE walk AS (
    SELECT c.parent_table, x.range_end FROM current_period c
    JOIN parts x ON x.parent_table = c.parent_table AND x.range_start = c.period_start
    UNION ALL
    SELECT w.parent_table, x.range_end FROM walk w
    JOIN parts x ON x.parent_table = w.parent_table AND x.range_start = w.range_end)
  SELECT parent_table, max(range_end) AS covered_until FROM walk GROUP BY parent_table),
defaults AS (
  SELECT 'check_ins' AS parent_table, count(*) AS rows_in_default, min(checked_in_at) AS oldest_in_default
  FROM check_ins_default
  UNION ALL SELECT 'event_stream', count(*), min(created_at) FROM event_stream_default
  UNION ALL SELECT 'query_performance_log', count(*), min(created_at) FROM query_performance_log_default
  UNION ALL SELECT 'wait_samples', count(*), min(bucket) FROM wait_samples_default)
SELECT c.parent_table, c.period, c.ahead AS ahead_wanted, c.retention::text AS retention,
       (SELECT count(*) FROM parts x WHERE x.parent_table = c.parent_table) AS partitions,
       (SELECT min(range_start) FROM parts x WHERE x.parent_table = c.parent_table) AS oldest_partition_start,
       cv.covered_until,
       CASE WHEN cv.covered_until IS NULL THEN 0
            WHEN c.period = 'month' THEN
              (extract(year FROM age(cv.covered_until AT TIME ZONE 'UTC', c.period_start AT TIME ZONE 'UTC')) * 12
               + extract(month FROM age(cv.covered_until AT TIME ZONE 'UTC', c.period_start AT TIME ZONE 'UTC')))::int - 1
            ELSE (extract(epoch FROM cv.covered_until - c.period_start) / 86400)::int - 1
       END AS periods_ahead,
       coalesce(d.rows_in_default, 0) AS rows_in_default, d.oldest_in_default
FROM current_period c
LEFT JOIN covered cv ON cv.parent_table = c.parent_table
LEFT JOIN defaults d ON d.parent_table = c.parent_table
ORDER BY c.parent_table

-- name: jobs.view_populated --
SELECT relispopulated AS populated FROM pg_class WHERE oid = 'venue_stats'::regclass

-- name: jobs.view_freshness --
-- Only when populated: scanning an unpopulated materialized view is an error.  The rows come from
-- venue_stats_score_summary (venues per category, '' = all; kept in the statements that change
-- venue_stats_rows) and the time from the venue_stats consumer's clock (every row's refreshed_at), so
-- the cost does not follow the number of venues; a role scoped to some venues counts the rows it sees.
WITH t AS MATERIALIZED (
  SELECT CASE WHEN (SELECT vp_is_scoped_role()) THEN (SELECT count(*) FROM venue_stats)
              ELSE coalesce((SELECT venues FROM venue_stats_score_summary WHERE category = ''), 0) END AS n)
SELECT CASE WHEN t.n > 0 THEN c.as_of END AS refreshed_at,
       CASE WHEN t.n > 0 THEN extract(epoch FROM now() - c.as_of) END AS age_seconds,
       t.n AS row_count
FROM t LEFT JOIN rollup_consumers c ON c.consumer = 'venue_stats'
