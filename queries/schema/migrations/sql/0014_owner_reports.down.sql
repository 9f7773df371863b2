-- Undoes 0014_owner_reports.up.sql.
DROP FUNCTION IF EXISTS venuepulse_auth.report_history(text, integer);
DROP FUNCTION IF EXISTS venuepulse_auth.set_report_subscription(text, text, boolean);
DROP FUNCTION IF EXISTS venuepulse_auth.report_subscription(text);
DROP TABLE IF EXISTS owner_reports;
DROP TABLE IF EXISTS venuepulse_auth.report_subscriptions;
