-- Rollups that make Engagement's exact figures read flat as history grows (issue 13).
SELECT 1;
