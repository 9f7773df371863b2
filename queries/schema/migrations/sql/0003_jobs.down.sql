-- Reverses 0003_jobs.up.sql.
DROP FUNCTION IF EXISTS vp_drop_expired_partition(text, text);
DROP TABLE IF EXISTS counter_drift;
