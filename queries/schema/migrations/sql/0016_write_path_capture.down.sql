-- Undoes 0016_write_path_capture.up.sql.
SELECT 1;
