-- Undoes 0013_wait_samples.up.sql.
SELECT 1;
