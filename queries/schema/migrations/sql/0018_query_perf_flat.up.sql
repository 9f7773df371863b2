-- Query performance page (issue 13): summaries whose cost follows the window's days and hours, not
-- its raw rows.
-- 1. query_perf_hourly keeps each hour's exact percentiles (percentile_cont of the hour's rows, taken
--    by the rollup), so the hourly trend is exact without its raw rows. Hours rolled before this
--    revision get them from their raw rows where those still hold exactly the hour's rolled calls;
--    otherwise they stay NULL and readers estimate them from the hour's histogram.
-- 2. query_perf_daily: one row per query name and UTC day, the day's hourly rows merged (sums, extremes
--    and the histogram as two arrays: the non-empty buckets ascending and their calls). A day is read
--    from it only while query_perf_daily_marks.hours equals the day's rolled hours (query_perf_rollups),
--    so an hour rolled into the day later never goes unseen: the day falls back to its hours.
ALTER TABLE query_perf_hourly
  ADD COLUMN p50_ms double precision,
  ADD COLUMN p95_ms double precision,
  ADD COLUMN p99_ms double precision;

UPDATE query_perf_hourly h
SET p50_ms = s.pct[1], p95_ms = s.pct[2], p99_ms = s.pct[3]
FROM (SELECT l.query_name, date_trunc('hour', l.created_at, 'UTC') AS hour, count(*) AS calls,
             percentile_cont(ARRAY[0.5, 0.95, 0.99]::double precision[])
               WITHIN GROUP (ORDER BY l.execution_time_ms) AS pct
      FROM query_performance_log l
      JOIN query_perf_rollups r ON r.hour = date_trunc('hour', l.created_at, 'UTC')
      GROUP BY 1, 2) s
WHERE s.query_name = h.query_name AND s.hour = h.hour AND s.calls = h.calls;

-- Readers fetch a window's rolled hours by hour (the primary key leads with query_name).
CREATE INDEX idx_query_perf_hourly_buckets_hour ON query_perf_hourly_buckets (hour);

CREATE TABLE query_perf_daily (
  query_name   varchar(100) NOT NULL,
  day          timestamptz NOT NULL CHECK (day = date_trunc('day', day, 'UTC')),
  calls        bigint NOT NULL CHECK (calls > 0),
  failed       bigint NOT NULL CHECK (failed >= 0),
  total_ms     double precision NOT NULL CHECK (total_ms >= 0),
  min_ms       double precision NOT NULL,
  max_ms       double precision NOT NULL,
  total_rows   bigint NOT NULL,
  buckets      smallint[] NOT NULL,
  bucket_calls bigint[] NOT NULL CHECK (cardinality(bucket_calls) = cardinality(buckets)),
  PRIMARY KEY (query_name, day)
);
CREATE INDEX idx_query_perf_daily_day ON query_perf_daily (day);

CREATE TABLE query_perf_daily_marks (
  day      timestamptz PRIMARY KEY CHECK (day = date_trunc('day', day, 'UTC')),
  hours    integer NOT NULL CHECK (hours BETWEEN 1 AND 24),
  built_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT ON query_perf_daily, query_perf_daily_marks TO venuepulse_reader;

-- Build the days already rolled (the same statement as performance.rollup_daily, up to now).
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
SELECT count(*) FROM marks;
