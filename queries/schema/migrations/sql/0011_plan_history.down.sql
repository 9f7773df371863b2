-- Undoes 0011_plan_history.up.sql.
DROP TABLE plan_changes, query_plans, plan_shapes;
