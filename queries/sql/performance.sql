-- Slow-query analytics over query_performance_log (raw rows, exact), its hourly histogram rollup, and
-- pg_stat_statements snapshots.  Windows are half-open: start <= created_at < end.

-- Used by the recorder (queries/recorder.py) with COPY on its own connection, never through run().
-- name: performance.copy_log --
-- kind: write
COPY query_performance_log (query_name, execution_time_ms, row_count, user_id, created_at) FROM STDIN

-- name: performance.query_stats --
SELECT query_name, calls, failed, mean_ms, pct[1] AS p50_ms, pct[2] AS p95_ms, pct[3] AS p99_ms,
       min_ms, max_ms, total_ms, total_rows, mean_rows
FROM (
  SELECT query_name,
         count(*)::bigint AS calls,
         count(*) FILTER (WHERE row_count IS NULL)::bigint AS failed,
         avg(execution_time_ms) AS mean_ms,
         percentile_cont(ARRAY[0.5, 0.95, 0.99]::double precision[])
           WITHIN GROUP (ORDER BY execution_time_ms) AS pct,
         min(execution_time_ms) AS min_ms,
         max(execution_time_ms) AS max_ms,
         sum(execution_time_ms) AS total_ms,
         coalesce(sum(row_count), 0)::bigint AS total_rows,
         avg(row_count)::double precision AS mean_rows
  FROM query_performance_log
  WHERE created_at >= %(start)s::timestamptz AND created_at < %(end)s::timestamptz
    AND (%(names)s::text[] IS NULL OR query_name = ANY (%(names)s::text[]))
  GROUP BY query_name
) s
ORDER BY total_ms DESC, query_name

-- Buckets are aligned to the clock (origin: Monday 2000-01-03 00:00 UTC); empty buckets are absent.
-- name: performance.time_series --
SELECT bucket_start, query_name, calls, failed, mean_ms, pct[1] AS p50_ms, pct[2] AS p95_ms,
       pct[3] AS p99_ms, max_ms
FROM (
  SELECT date_bin(%(bucket)s::interval, created_at, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket_start,
         query_name,
         count(*)::bigint AS calls,
         count(*) FILTER (WHERE row_count IS NULL)::bigint AS failed,
         avg(execution_time_ms) AS mean_ms,
         percentile_cont(ARRAY[0.5, 0.95, 0.99]::double precision[])
           WITHIN GROUP (ORDER BY execution_time_ms) AS pct,
         max(execution_time_ms) AS max_ms
  FROM query_performance_log
  WHERE created_at >= %(start)s::timestamptz AND created_at < %(end)s::timestamptz
    AND (%(names)s::text[] IS NULL OR query_name = ANY (%(names)s::text[]))
  GROUP BY 1, 2
) s
ORDER BY bucket_start, query_name

-- name: performance.slowest --
SELECT query_name, execution_time_ms, row_count, user_id, created_at, row_count IS NULL AS failed
FROM query_performance_log
WHERE execution_time_ms > %(threshold_ms)s::double precision
  AND created_at >= %(start)s::timestamptz AND created_at < %(end)s::timestamptz
ORDER BY execution_time_ms DESC, created_at DESC
LIMIT %(limit)s::integer

-- The same for thresholds of a second or more: the literal condition lets every plan (generic ones
-- too) use the review's partial index idx_query_perf_slow (execution_time_ms > 1000).
-- name: performance.slowest_over_1s --
SELECT query_name, execution_time_ms, row_count, user_id, created_at, row_count IS NULL AS failed
FROM query_performance_log
WHERE execution_time_ms > 1000
  AND execution_time_ms > %(threshold_ms)s::double precision
  AND created_at >= %(start)s::timestamptz AND created_at < %(end)s::timestamptz
ORDER BY execution_time_ms DESC, created_at DESC
LIMIT %(limit)s::integer

-- p95 of the current window [now - window, now) against the previous window and the same hours a
-- week earlier; a query regresses when it has min_calls in the current window and in a baseline
-- whose p95 it exceeds by more than `factor`.
-- name: performance.regressions --
WITH w AS (
  SELECT %(now)s::timestamptz AS now, %(window)s::interval AS win, interval '7 days' AS week
),
marked AS (
  SELECT l.query_name, l.execution_time_ms AS ms,
         (l.created_at >= w.now - w.win AND l.created_at < w.now) AS cur,
         (l.created_at >= w.now - 2 * w.win AND l.created_at < w.now - w.win) AS prev,
         (l.created_at >= w.now - w.week - w.win AND l.created_at < w.now - w.week) AS wk
  FROM query_performance_log l, w
  WHERE (l.created_at >= w.now - 2 * w.win AND l.created_at < w.now)
     OR (l.created_at >= w.now - w.week - w.win AND l.created_at < w.now - w.week)
),
agg AS (
  SELECT query_name,
         count(*) FILTER (WHERE cur)::bigint AS calls,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) FILTER (WHERE cur) AS p95_ms,
         count(*) FILTER (WHERE prev)::bigint AS prev_calls,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) FILTER (WHERE prev) AS prev_p95_ms,
         count(*) FILTER (WHERE wk)::bigint AS week_calls,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) FILTER (WHERE wk) AS week_p95_ms
  FROM marked
  GROUP BY query_name
),
judged AS (
  SELECT *,
         p95_ms / nullif(prev_p95_ms, 0) AS vs_previous,
         p95_ms / nullif(week_p95_ms, 0) AS vs_week_ago,
         (prev_calls >= %(min_calls)s::integer AND p95_ms > %(factor)s::double precision * prev_p95_ms) AS slower_than_previous,
         (week_calls >= %(min_calls)s::integer AND p95_ms > %(factor)s::double precision * week_p95_ms) AS slower_than_week_ago
  FROM agg
  WHERE calls >= %(min_calls)s::integer
)
SELECT query_name, calls, p95_ms, prev_calls, prev_p95_ms, week_calls, week_p95_ms, vs_previous, vs_week_ago,
       slower_than_previous, slower_than_week_ago
FROM judged
WHERE slower_than_previous OR slower_than_week_ago
ORDER BY greatest(coalesce(vs_previous, 0), coalesce(vs_week_ago, 0)) DESC, query_name

-- Names recorded in [now - window, now) and never before (neither in the raw log nor in the rollup).
-- A rollup hour is before the window only when it *ends* at or before the window start. An hour that
-- straddles the start may hold runs on either side of it, so the raw log decides. Should the raw log
-- hold fewer of that hour's runs than the rollup counted (retention dropped them), the lost runs may
-- have come before the start, so the hour counts as before. Raw rows are kept longer than any window
-- (docs/queries.md): that fallback matters only where retention was set shorter than a window.
-- name: performance.new_queries --
WITH w AS (SELECT %(now)s::timestamptz - %(window)s::interval AS start, %(now)s::timestamptz AS now)
SELECT l.query_name, min(l.created_at) AS first_seen, count(*)::bigint AS calls,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY l.execution_time_ms) AS p95_ms,
       max(l.execution_time_ms) AS max_ms
FROM query_performance_log l, w
WHERE l.created_at >= w.start AND l.created_at < w.now
GROUP BY l.query_name, w.start
HAVING NOT EXISTS (SELECT 1 FROM query_performance_log o
                   WHERE o.query_name = l.query_name AND o.created_at < w.start)
   AND NOT EXISTS (SELECT 1 FROM query_perf_hourly h
                   WHERE h.query_name = l.query_name
                     AND h.hour < w.start
                     AND (h.hour + interval '1 hour' <= w.start
                          OR h.calls > (SELECT count(*) FROM query_performance_log i
                                        WHERE i.query_name = h.query_name AND i.created_at >= w.start
                                          AND i.created_at < h.hour + interval '1 hour')))
ORDER BY first_seen, l.query_name

-- Rolls every complete UTC hour before %(upto)s that has rows and is not rolled yet (looking back 48
-- hours before the last rolled hour, so a long-running installation never rescans the whole log).
-- Returns the number of (query_name, hour) rows written.
-- name: performance.rollup --
-- kind: maintenance
WITH lim AS (
  SELECT date_trunc('hour', %(upto)s::timestamptz, 'UTC') AS upto_hour,
         -- normally the last 48 hours before the newest rolled hour; retention passes an explicit start
         -- so that an old day left unrolled (the job was off) is rolled before its partition goes
         coalesce(%(since)s::timestamptz,
                  (SELECT max(hour) FROM query_perf_rollups) - interval '48 hours', '-infinity') AS since
),
raw AS (
  SELECT l.query_name, date_trunc('hour', l.created_at, 'UTC') AS hour, l.execution_time_ms AS ms, l.row_count
  FROM query_performance_log l, lim
  WHERE l.created_at >= lim.since AND l.created_at < lim.upto_hour
    AND NOT EXISTS (SELECT 1 FROM query_perf_rollups r WHERE r.hour = date_trunc('hour', l.created_at, 'UTC'))
),
hourly AS (
  INSERT INTO query_perf_hourly (query_name, hour, calls, failed, total_ms, min_ms, max_ms, total_rows,
                                 p50_ms, p95_ms, p99_ms)
  SELECT query_name, hour, calls, failed, total_ms, min_ms, max_ms, total_rows, pct[1], pct[2], pct[3]
  FROM (SELECT query_name, hour, count(*) AS calls, count(*) FILTER (WHERE row_count IS NULL) AS failed,
               sum(ms) AS total_ms, min(ms) AS min_ms, max(ms) AS max_ms, coalesce(sum(row_count), 0) AS total_rows,
               percentile_cont(ARRAY[0.5, 0.95, 0.99]::double precision[]) WITHIN GROUP (ORDER BY ms) AS pct
        FROM raw GROUP BY query_name, hour) r
  RETURNING 1
),
buckets AS (
  INSERT INTO query_perf_hourly_buckets (query_name, hour, bucket, calls)
  SELECT query_name, hour, vp_perf_bucket(ms), count(*)
  FROM raw GROUP BY query_name, hour, vp_perf_bucket(ms)
  RETURNING 1
),
marks AS (
  INSERT INTO query_perf_rollups (hour, query_names, calls)
  SELECT hour, count(DISTINCT query_name), count(*) FROM raw GROUP BY hour
  RETURNING 1
)
SELECT count(*)::bigint AS rows_written FROM hourly

-- Each UTC day whose rolled hours changed since its daily rows were built (or that were never built),
-- its rolled hours merged into query_perf_daily (one row per query name, the histogram as arrays) and
-- their number into query_perf_daily_marks. A reader uses a day's rows only while that number still
-- equals the day's rolled hours, and reads the day's other hours (not rolled: no rows then, the current
-- hour, rows arriving later) from raw rows, as it does for any hour. Returns the days built.
-- name: performance.rollup_daily --
-- kind: maintenance
WITH rolled AS (
  SELECT date_trunc('day', r.hour, 'UTC') AS day, count(*)::integer AS hours
  FROM query_perf_rollups r
  GROUP BY 1
),
todo AS (
  SELECT rolled.day, rolled.hours
  FROM rolled
  WHERE NOT EXISTS (SELECT 1 FROM query_perf_daily_marks m WHERE m.day = rolled.day AND m.hours = rolled.hours)
),
b AS (
  SELECT hb.query_name, todo.day, hb.bucket, sum(hb.calls)::bigint AS calls
  FROM todo
  JOIN query_perf_hourly_buckets hb ON hb.hour >= todo.day AND hb.hour < todo.day + interval '1 day'
  GROUP BY 1, 2, 3
),
days AS (
  INSERT INTO query_perf_daily AS d (query_name, day, calls, failed, total_ms, min_ms, max_ms, total_rows,
                                     buckets, bucket_calls)
  SELECT h.query_name, todo.day, sum(h.calls), sum(h.failed), sum(h.total_ms), min(h.min_ms), max(h.max_ms),
         sum(h.total_rows),
         (SELECT array_agg(b.bucket ORDER BY b.bucket) FROM b WHERE b.query_name = h.query_name AND b.day = todo.day),
         (SELECT array_agg(b.calls ORDER BY b.bucket) FROM b WHERE b.query_name = h.query_name AND b.day = todo.day)
  FROM todo
  JOIN query_perf_hourly h ON h.hour >= todo.day AND h.hour < todo.day + interval '1 day'
  GROUP BY h.query_name, todo.day
  ON CONFLICT (query_name, day) DO UPDATE
    SET calls = excluded.calls, failed = excluded.failed, total_ms = excluded.total_ms, min_ms = excluded.min_ms,
        max_ms = excluded.max_ms, total_rows = excluded.total_rows, buckets = excluded.buckets,
        bucket_calls = excluded.bucket_calls
  RETURNING 1
),
marks AS (
  INSERT INTO query_perf_daily_marks AS m (day, hours)
  SELECT day, hours FROM todo
  ON CONFLICT (day) DO UPDATE SET hours = excluded.hours, built_at = now()
  RETURNING 1
)
SELECT count(*)::bigint AS days_built FROM marks

-- Merged histograms over [start, end): per query name the summary and the non-empty buckets (ascending)
-- with their calls. Each UTC hour the window touches is one piece, cut to the window: a whole hour that
-- is rolled up is read from the rollup; any other piece (an hour cut by the window's start or end, an
-- hour not rolled yet) from the raw rows, put into the same buckets. So counts, sums and extremes equal
-- the raw log's wherever its rows still exist, except rows that reached the log after their hour was
-- rolled. A cut hour whose raw rows expired adds nothing: the rollup cannot split an hour.
-- name: performance.histograms --
WITH w AS (SELECT %(start)s::timestamptz AS lo, %(end)s::timestamptz AS hi),
pieces AS (
  SELECT g AS hour, greatest(g, w.lo) AS lo, least(g + interval '1 hour', w.hi) AS hi,
         (g >= w.lo AND g + interval '1 hour' <= w.hi
          AND EXISTS (SELECT 1 FROM query_perf_rollups r WHERE r.hour = g)) AS rolled
  FROM w, generate_series(date_trunc('hour', w.lo, 'UTC'), w.hi, interval '1 hour') AS g
  WHERE g < w.hi
),
raw AS (
  SELECT l.query_name, l.execution_time_ms AS ms, l.row_count
  FROM pieces p
  JOIN query_performance_log l ON l.created_at >= p.lo AND l.created_at < p.hi
  WHERE NOT p.rolled
    AND (%(names)s::text[] IS NULL OR l.query_name = ANY (%(names)s::text[]))
),
summaries AS (
  SELECT h.query_name, h.calls, h.failed, h.total_ms, h.min_ms, h.max_ms, h.total_rows, 1 AS hours
  FROM pieces p
  JOIN query_perf_hourly h ON h.hour = p.hour
  WHERE p.rolled
    AND (%(names)s::text[] IS NULL OR h.query_name = ANY (%(names)s::text[]))
  UNION ALL
  SELECT query_name, count(*), count(*) FILTER (WHERE row_count IS NULL), sum(ms), min(ms), max(ms),
         coalesce(sum(row_count), 0), 0
  FROM raw GROUP BY query_name
),
h AS (
  SELECT query_name, sum(calls)::bigint AS calls, sum(failed)::bigint AS failed, sum(total_ms) AS total_ms,
         min(min_ms) AS min_ms, max(max_ms) AS max_ms, sum(total_rows)::bigint AS total_rows,
         sum(hours)::integer AS hours
  FROM summaries
  GROUP BY query_name
),
b AS (
  SELECT query_name, bucket, sum(calls)::bigint AS calls
  FROM (SELECT hb.query_name, hb.bucket, hb.calls
        FROM pieces p
        JOIN query_perf_hourly_buckets hb ON hb.hour = p.hour
        WHERE p.rolled
          AND (%(names)s::text[] IS NULL OR hb.query_name = ANY (%(names)s::text[]))
        UNION ALL
        SELECT query_name, vp_perf_bucket(ms), count(*) FROM raw GROUP BY 1, 2) u
  GROUP BY query_name, bucket
)
SELECT h.*,
       (SELECT array_agg(b.bucket ORDER BY b.bucket) FROM b WHERE b.query_name = h.query_name) AS buckets,
       (SELECT array_agg(b.calls ORDER BY b.bucket) FROM b WHERE b.query_name = h.query_name) AS bucket_calls
FROM h
ORDER BY h.total_ms DESC, h.query_name

-- The pieces of [start, end) the Query performance page summarises, for the caller to merge: one row per
-- query name and UTC day read from query_perf_daily (a day wholly inside the window whose daily rows
-- hold all its rolled hours), then one row per query name for the rest, pieced together hour by hour as
-- performance.histograms does (whole rolled hours from the rollup, every other piece, also an unrolled
-- hour of such a day, from raw rows). Each row carries its sums, extremes and histogram (non-empty
-- buckets ascending, their calls).
-- name: performance.window_pieces --
WITH w AS (SELECT %(start)s::timestamptz AS lo, %(end)s::timestamptz AS hi),
days AS (
  SELECT m.day
  FROM query_perf_daily_marks m, w
  WHERE m.day >= w.lo AND m.day + interval '1 day' <= w.hi
    AND m.hours = (SELECT count(*) FROM query_perf_rollups r
                   WHERE r.hour >= m.day AND r.hour < m.day + interval '1 day')
),
-- every hour the window touches; one of a day read from query_perf_daily is covered by it if rolled
pieces AS MATERIALIZED (
  SELECT g AS hour, greatest(g, w.lo) AS lo, least(g + interval '1 hour', w.hi) AS hi,
         (g >= w.lo AND g + interval '1 hour' <= w.hi
          AND EXISTS (SELECT 1 FROM query_perf_rollups r WHERE r.hour = g)) AS rolled,
         EXISTS (SELECT 1 FROM days WHERE days.day = date_trunc('day', g, 'UTC')) AS in_day
  FROM w, generate_series(date_trunc('hour', w.lo, 'UTC'), w.hi, interval '1 hour') AS g
  WHERE g < w.hi
),
-- the rolled hours outside those days as one array, so that the rollup tables are read by hour index
rolled AS (SELECT coalesce(array_agg(hour), '{}') AS hours FROM pieces WHERE rolled AND NOT in_day),
-- each raw piece read by its own index range (OFFSET 0 keeps the planner from flattening the lateral
-- subquery into a join that scans the whole window)
raw AS (
  SELECT l.query_name, l.ms, l.row_count
  FROM pieces p
  CROSS JOIN LATERAL (SELECT l.query_name, l.execution_time_ms AS ms, l.row_count
                      FROM query_performance_log l
                      WHERE l.created_at >= p.lo AND l.created_at < p.hi
                        AND (%(names)s::text[] IS NULL OR l.query_name = ANY (%(names)s::text[]))
                      OFFSET 0) l
  WHERE NOT p.rolled
),
summaries AS (
  SELECT h.query_name, h.calls, h.failed, h.total_ms, h.min_ms, h.max_ms, h.total_rows
  FROM query_perf_hourly h
  WHERE h.hour = ANY ((SELECT hours FROM rolled)::timestamptz[])
    AND (%(names)s::text[] IS NULL OR h.query_name = ANY (%(names)s::text[]))
  UNION ALL
  SELECT query_name, count(*), count(*) FILTER (WHERE row_count IS NULL), sum(ms), min(ms), max(ms),
         coalesce(sum(row_count), 0)
  FROM raw GROUP BY query_name
),
h AS (
  SELECT query_name, sum(calls)::bigint AS calls, sum(failed)::bigint AS failed, sum(total_ms) AS total_ms,
         min(min_ms) AS min_ms, max(max_ms) AS max_ms, sum(total_rows)::bigint AS total_rows
  FROM summaries
  GROUP BY query_name
),
b AS (
  SELECT query_name, bucket, sum(calls)::bigint AS calls
  FROM (SELECT hb.query_name, hb.bucket::integer AS bucket, hb.calls
        FROM query_perf_hourly_buckets hb
        WHERE hb.hour = ANY ((SELECT hours FROM rolled)::timestamptz[])
          AND (%(names)s::text[] IS NULL OR hb.query_name = ANY (%(names)s::text[]))
        UNION ALL
        SELECT query_name, vp_perf_bucket(ms), count(*) FROM raw GROUP BY 1, 2) u
  GROUP BY query_name, bucket
),
hist AS (
  SELECT query_name, array_agg(bucket ORDER BY bucket) AS buckets, array_agg(calls ORDER BY bucket) AS bucket_calls
  FROM b GROUP BY query_name
)
SELECT d.query_name, d.calls, d.failed, d.total_ms, d.min_ms, d.max_ms, d.total_rows, 1 AS days,
       d.buckets::integer[] AS buckets, d.bucket_calls
FROM days
JOIN query_perf_daily d ON d.day = days.day
WHERE %(names)s::text[] IS NULL OR d.query_name = ANY (%(names)s::text[])
UNION ALL
SELECT h.query_name, h.calls, h.failed, h.total_ms, h.min_ms, h.max_ms, h.total_rows, 0, hist.buckets,
       hist.bucket_calls
FROM h LEFT JOIN hist USING (query_name)

-- performance.time_series for clock hours: a whole rolled hour is its query_perf_hourly row (its exact
-- percentiles, or NULL ones with the hour's histogram where they were never taken); any other piece (an
-- hour cut by the window, an hour not rolled yet) is computed from its raw rows.
-- name: performance.time_series_hourly --
WITH w AS (SELECT %(start)s::timestamptz AS lo, %(end)s::timestamptz AS hi),
pieces AS MATERIALIZED (
  SELECT g AS hour, greatest(g, w.lo) AS lo, least(g + interval '1 hour', w.hi) AS hi,
         (g >= w.lo AND g + interval '1 hour' <= w.hi
          AND EXISTS (SELECT 1 FROM query_perf_rollups r WHERE r.hour = g)) AS rolled
  FROM w, generate_series(date_trunc('hour', w.lo, 'UTC'), w.hi, interval '1 hour') AS g
  WHERE g < w.hi
),
rolled AS (SELECT coalesce(array_agg(hour), '{}') AS hours FROM pieces WHERE rolled)
SELECT h.hour AS bucket_start, h.query_name, h.calls, h.failed, h.total_ms / h.calls AS mean_ms,
       h.p50_ms, h.p95_ms, h.p99_ms, h.min_ms, h.max_ms,
       CASE WHEN h.p50_ms IS NULL THEN
         (SELECT array_agg(hb.bucket::integer ORDER BY hb.bucket) FROM query_perf_hourly_buckets hb
          WHERE hb.query_name = h.query_name AND hb.hour = h.hour) END AS buckets,
       CASE WHEN h.p50_ms IS NULL THEN
         (SELECT array_agg(hb.calls ORDER BY hb.bucket) FROM query_perf_hourly_buckets hb
          WHERE hb.query_name = h.query_name AND hb.hour = h.hour) END AS bucket_calls
FROM query_perf_hourly h
WHERE h.hour = ANY ((SELECT hours FROM rolled)::timestamptz[])
  AND (%(names)s::text[] IS NULL OR h.query_name = ANY (%(names)s::text[]))
UNION ALL
SELECT p.hour, l.query_name, count(*)::bigint, count(*) FILTER (WHERE l.row_count IS NULL)::bigint,
       avg(l.ms), percentile_cont(0.5) WITHIN GROUP (ORDER BY l.ms),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY l.ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY l.ms),
       min(l.ms), max(l.ms), NULL, NULL
FROM pieces p
CROSS JOIN LATERAL (SELECT l.query_name, l.execution_time_ms AS ms, l.row_count
                    FROM query_performance_log l
                    WHERE l.created_at >= p.lo AND l.created_at < p.hi
                      AND (%(names)s::text[] IS NULL OR l.query_name = ANY (%(names)s::text[]))
                    OFFSET 0) l  -- one index range per piece, as in performance.window_pieces
WHERE NOT p.rolled
GROUP BY p.hour, l.query_name
ORDER BY 1, 2

-- name: performance.stat_statements_state --
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS installed,
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements') AS available,
       (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload,
       -- any role sees the library's settings once it is loaded (preload is NULL without pg_read_all_settings)
       EXISTS (SELECT 1 FROM pg_settings WHERE name = 'pg_stat_statements.max') AS loaded,
       to_regproc('vp_snapshot_stat_statements') IS NOT NULL AS snapshots_ready,
       coalesce(has_table_privilege(to_regclass('pg_stat_statements_info'), 'SELECT'), false) AS info_readable,
       pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS reads_all_stats,
       current_setting('server_version_num')::integer AS server_version_num

-- Fails with "pg_stat_statements must be loaded via shared_preload_libraries" when it is not loaded.
-- name: performance.stat_statements_probe --
-- timeout: 5s
SELECT count(*)::bigint AS entries FROM pg_stat_statements_info

-- name: performance.snapshot_stat_statements --
-- kind: maintenance
SELECT vp_snapshot_stat_statements() AS statements

-- Deltas of the snapshots taken in (start, end], per statement, joined to the VenuePulse query name.
-- name: performance.stat_statements --
SELECT d.queryid, d.toplevel, q.query_name, left(q.query, 2000) AS query,
       sum(d.calls)::bigint AS calls,
       sum(d.total_exec_ms) AS total_ms,
       sum(d.total_exec_ms) / sum(d.calls) AS mean_ms,
       sum(d.rows)::bigint AS rows,
       sum(d.shared_blks_hit)::double precision
         / nullif(sum(d.shared_blks_hit) + sum(d.shared_blks_read), 0) AS cache_hit_ratio,
       sum(d.shared_blks_read)::bigint AS shared_blks_read,
       sum(d.temp_blks_written)::bigint AS temp_blks_written,
       count(DISTINCT d.snapshot_id)::integer AS snapshots
FROM pgss_deltas d
JOIN pgss_snapshots s ON s.id = d.snapshot_id
LEFT JOIN pgss_queries q ON q.queryid = d.queryid
WHERE s.taken_at > %(start)s::timestamptz AND s.taken_at <= %(end)s::timestamptz
GROUP BY d.queryid, d.toplevel, q.query_name, q.query
ORDER BY total_ms DESC
LIMIT %(limit)s::integer

-- pg_stat_statements integrity (migration 0012): per snapshot taken in (start, end], whether it is a gap
-- (a reset, evictions, entries that started over or disappeared, or pg_stat_statements_info unreadable)
-- and the execution time it captured against the database's active time.
-- name: performance.stat_statements_integrity --
SELECT s.taken_at, s.baseline_only, s.info_available, s.stats_reset, s.reset_seen, s.dealloc, s.evictions,
       s.entry_gaps, s.statements, s.captured_ms, s.active_ms,
       (s.reset_seen OR coalesce(s.evictions, 0) > 0 OR s.entry_gaps > 0 OR NOT s.info_available) AS gap
FROM pgss_snapshots s
WHERE s.taken_at > %(start)s::timestamptz AND s.taken_at <= %(end)s::timestamptz
ORDER BY s.taken_at

-- Per snapshot in (start, end] and statement (the `limit` heaviest in the window, or the given queryids):
-- its delta, or a gap where the entry started over or disappeared, or the whole snapshot is a reset, or
-- entries were evicted and the server cannot say which (no stats_since before PostgreSQL 17).
-- name: performance.stat_statements_series --
WITH snaps AS (
  SELECT id, taken_at, reset_seen, coalesce(evictions, 0) > 0 AS evicted, info_available
  FROM pgss_snapshots
  WHERE taken_at > %(start)s::timestamptz AND taken_at <= %(end)s::timestamptz AND NOT baseline_only
),
top AS (
  SELECT d.queryid, sum(d.total_exec_ms) AS ms
  FROM pgss_deltas d JOIN snaps ON snaps.id = d.snapshot_id
  WHERE d.toplevel AND (%(queryids)s::bigint[] IS NULL OR d.queryid = ANY (%(queryids)s::bigint[]))
  GROUP BY d.queryid
  ORDER BY ms DESC
  LIMIT %(limit)s::integer
),
since AS (SELECT bool_or(stats_since IS NOT NULL) AS exact FROM pgss_latest)
SELECT s.taken_at, t.queryid, q.query_name,
       g.reason IS NOT NULL OR s.reset_seen OR (s.evicted AND NOT coalesce((SELECT exact FROM since), false))
         OR NOT s.info_available AS gap,
       CASE WHEN s.reset_seen THEN 'reset' WHEN g.reason IS NOT NULL THEN g.reason
            WHEN NOT s.info_available THEN 'info unreadable'
            WHEN s.evicted AND NOT coalesce((SELECT exact FROM since), false) THEN 'evictions' END AS gap_reason,
       CASE WHEN g.reason IS NULL AND NOT s.reset_seen THEN coalesce(d.calls, 0) END AS calls,
       CASE WHEN g.reason IS NULL AND NOT s.reset_seen THEN coalesce(d.total_ms, 0) END AS total_ms,
       d.calls AS calls_counted
FROM snaps s
CROSS JOIN top t
LEFT JOIN pgss_queries q ON q.queryid = t.queryid
LEFT JOIN LATERAL (SELECT sum(calls)::bigint AS calls, sum(total_exec_ms) AS total_ms FROM pgss_deltas
                   WHERE snapshot_id = s.id AND queryid = t.queryid AND toplevel) d ON true
LEFT JOIN LATERAL (SELECT min(reason) AS reason FROM pgss_entry_gaps
                   WHERE snapshot_id = s.id AND queryid = t.queryid) g ON true
ORDER BY s.taken_at, t.queryid
