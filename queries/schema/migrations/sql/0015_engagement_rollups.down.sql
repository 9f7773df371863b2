-- Undoes 0015_engagement_rollups.up.sql.
SELECT 1;
