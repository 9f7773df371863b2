-- Undoes 0011_plan_history.up.sql.
SELECT 1;
