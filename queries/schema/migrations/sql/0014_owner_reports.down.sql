-- Undoes 0014_owner_reports.up.sql.
SELECT 1;
