-- Wait sampling (queries/ops/waits.py, the sample_waits job) and its reads for the Query performance page.
-- Storage: migration 0013 (wait_samples).  Sessions of other roles show no state, query or wait to a role
-- outside pg_read_all_stats (pg_monitor includes it): they are counted as hidden, never guessed at.

-- One sample: every active session of this database (but the sampler's own) added to the current minute's
-- row of its named query and wait event, in one statement; returns what it saw.  `interval` is the sampling
-- interval in seconds, the time each sighting stands for.
-- name: waits.sample --
-- kind: write
-- timeout: 5s
WITH seen AS (
  -- a session this role may not see shows its role but no database, type, state or query: counted as hidden,
  -- server-wide (background processes have no role)
  SELECT s.state, s.wait_event_type, s.wait_event, s.query_id, s.backend_type IS NULL AS hidden,
         substring(s.query FROM '/\*query_name=''([a-z0-9_.]+)''\*/') AS tag
  FROM pg_stat_activity s
  WHERE (s.datname = current_database() AND s.backend_type IN ('client backend', 'parallel worker')
         AND s.pid <> pg_backend_pid())
     OR (s.backend_type IS NULL AND s.usesysid IS NOT NULL)
), added AS (
  INSERT INTO wait_samples AS w (bucket, query_name, query_id, wait_event_type, wait_event, samples, seconds)
  SELECT date_trunc('minute', now()), coalesce(tag, ''), coalesce(query_id, 0),
         coalesce(wait_event_type, 'CPU'), coalesce(wait_event, 'CPU'),
         count(*), count(*) * %(interval)s::float8
  FROM seen
  WHERE state IN ('active', 'fastpath function call')
  GROUP BY 2, 3, 4, 5
  ON CONFLICT (bucket, query_name, query_id, wait_event_type, wait_event)
  DO UPDATE SET samples = w.samples + EXCLUDED.samples, seconds = w.seconds + EXCLUDED.seconds
  RETURNING 1
)
SELECT count(*) FILTER (WHERE state IN ('active', 'fastpath function call'))::integer AS active,
       count(*) FILTER (WHERE hidden)::integer AS hidden,
       (SELECT count(*) FROM added)::integer AS rows_written,
       current_user::text AS role_name,
       pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS reads_all_stats
FROM seen

-- Estimated time per named query and wait event over [start, end).  A row without a tag is named through
-- pgss_queries (its query_id seen by a pg_stat_statements snapshot); otherwise query_name is NULL and the
-- statement's text, where a snapshot saw it, is given instead.  `interval_min_s`/`interval_max_s`: the
-- sampling interval(s) the rows were taken at (seconds / samples).
-- name: waits.by_query --
-- timeout: 10s
WITH w AS (
  SELECT coalesce(nullif(w.query_name, ''), q.query_name) AS query_name, w.query_id, q.query,
         w.wait_event_type, w.wait_event, w.samples, w.seconds
  FROM wait_samples w
  LEFT JOIN pgss_queries q ON q.queryid = w.query_id AND w.query_id <> 0
  WHERE w.bucket >= %(start)s::timestamptz AND w.bucket < %(end)s::timestamptz
)
SELECT query_name, CASE WHEN query_name IS NULL THEN query_id END AS query_id,
       CASE WHEN query_name IS NULL THEN left(max(query), 300) END AS statement,
       wait_event_type, wait_event,
       sum(samples)::bigint AS samples, sum(seconds)::float8 AS seconds,
       min(seconds / samples)::float8 AS interval_min_s, max(seconds / samples)::float8 AS interval_max_s
FROM w
WHERE %(names)s::text[] IS NULL OR query_name = ANY (%(names)s::text[])
GROUP BY 1, 2, 4, 5
ORDER BY seconds DESC, query_name, wait_event_type, wait_event

-- The sampler's runs that overlap [start, end) and its latest run: samples taken, the interval, and whether
-- its role sees other roles' sessions (from each run's details).
-- name: waits.sampler_runs --
-- timeout: 10s
WITH r AS (
  SELECT status, started_at, finished_at, error, details
  FROM job_runs
  WHERE job_name = 'sample_waits' AND status IN ('succeeded', 'failed')
    AND started_at < %(end)s::timestamptz AND coalesce(finished_at, started_at) >= %(start)s::timestamptz
), latest AS (
  SELECT status, started_at, finished_at, error, details
  FROM job_runs WHERE job_name = 'sample_waits' AND status <> 'skipped'
  ORDER BY started_at DESC LIMIT 1
)
SELECT (SELECT count(*) FROM r)::integer AS runs,
       (SELECT coalesce(sum((details ->> 'samples')::integer), 0) FROM r)::bigint AS samples,
       (SELECT max((details ->> 'hidden_max')::integer) FROM r) AS hidden_max,
       l.status AS last_status, l.started_at AS last_started_at, l.finished_at AS last_finished_at,
       l.error AS last_error, (l.details ->> 'interval_s')::float8 AS last_interval_s,
       (l.details ->> 'reads_all_stats')::boolean AS last_reads_all_stats, l.details ->> 'role' AS last_role
FROM (SELECT 1) one
LEFT JOIN latest l ON true
