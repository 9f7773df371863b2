-- Reverses 0008_alerts.up.sql.
DROP SCHEMA IF EXISTS venuepulse_secrets CASCADE;
DROP TABLE IF EXISTS notification_attempts, notification_outbox, alert_events, alert_states, alert_rule_channels,
                     alert_rules, alert_channels;
