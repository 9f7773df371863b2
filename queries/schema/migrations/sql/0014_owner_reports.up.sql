-- Owners' weekly report: subscriptions and sends (issue 17).
SELECT 1;
