DROP TABLE IF EXISTS query_perf_daily_marks;
DROP TABLE IF EXISTS query_perf_daily;
DROP INDEX IF EXISTS idx_query_perf_hourly_buckets_hour;
ALTER TABLE query_perf_hourly DROP COLUMN IF EXISTS p99_ms, DROP COLUMN IF EXISTS p95_ms,
  DROP COLUMN IF EXISTS p50_ms;
