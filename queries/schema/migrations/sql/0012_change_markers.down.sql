-- Undoes 0012_change_markers.up.sql.
SELECT 1;
