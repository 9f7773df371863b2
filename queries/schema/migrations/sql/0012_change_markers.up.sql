-- Change markers (DDL and deploy annotations) and pg_stat_statements integrity (resets, evictions, gaps) (issue 15).
SELECT 1;
