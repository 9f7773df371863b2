-- Phase 3, after verification found no difference: the parallel run ends and the old tables go.
-- (queries/upgrade/phases.py locks the old tables against writes, verifies, then runs this file.)
DROP TRIGGER vp_upgrade_mirror_offer_events ON flash_offer_events;
DROP TRIGGER vp_upgrade_mirror_activity ON activity_feed;
DROP TRIGGER vp_upgrade_mirror_notifications ON social_notifications;
DROP TRIGGER vp_upgrade_mirror_settings ON notification_preferences;
DROP FUNCTION vp_upgrade_mirror_offer_events();
DROP FUNCTION vp_upgrade_mirror_activity();
DROP FUNCTION vp_upgrade_mirror_notifications();
DROP FUNCTION vp_upgrade_mirror_settings();
DROP FUNCTION vp_upgrade_map_offer_event(flash_offer_events);
DROP FUNCTION vp_upgrade_map_activity(activity_feed);
DROP FUNCTION vp_upgrade_map_notification(social_notifications);
DROP FUNCTION vp_upgrade_map_settings(notification_preferences);

DROP TABLE flash_offer_events;
DROP TABLE activity_feed;
DROP TABLE social_notifications;
DROP TABLE notification_preferences;
-- Push throttling state: the target dedupes offer pushes per (offer, user) in notifications instead.
DROP TABLE flash_offer_rate_limits;

-- The counters now belong to 0001's triggers and the contract functions alone.
DROP TRIGGER vp_upgrade_guard_offer_counters ON flash_offers;
DROP FUNCTION vp_upgrade_guard_offer_counters();
-- The hand-written status column gives way to status(flash_offers), computed at read time.
ALTER TABLE flash_offers DROP COLUMN status;
