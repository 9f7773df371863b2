-- The pg_stat_statements extension is left installed: other tools may rely on it.
DROP FUNCTION IF EXISTS vp_snapshot_stat_statements();
DROP TABLE IF EXISTS pgss_deltas;
DROP TABLE IF EXISTS pgss_latest;
DROP TABLE IF EXISTS pgss_queries;
DROP TABLE IF EXISTS pgss_snapshots;
DROP TABLE IF EXISTS query_perf_hourly_buckets;
DROP TABLE IF EXISTS query_perf_hourly;
DROP TABLE IF EXISTS query_perf_rollups;
DROP FUNCTION IF EXISTS vp_perf_bucket_lower(integer);
DROP FUNCTION IF EXISTS vp_perf_bucket(double precision);
