-- Reverses phase 2: back to phase 1 (the old tables were never changed; the new ones go).
DROP TRIGGER IF EXISTS vp_upgrade_mirror_offer_events ON flash_offer_events;
DROP TRIGGER IF EXISTS vp_upgrade_mirror_activity ON activity_feed;
DROP TRIGGER IF EXISTS vp_upgrade_mirror_notifications ON social_notifications;
DROP TRIGGER IF EXISTS vp_upgrade_mirror_settings ON notification_preferences;
DROP FUNCTION IF EXISTS vp_upgrade_mirror_offer_events();
DROP FUNCTION IF EXISTS vp_upgrade_mirror_activity();
DROP FUNCTION IF EXISTS vp_upgrade_mirror_notifications();
DROP FUNCTION IF EXISTS vp_upgrade_mirror_settings();
DROP FUNCTION IF EXISTS vp_upgrade_map_offer_event(flash_offer_events);
DROP FUNCTION IF EXISTS vp_upgrade_map_activity(activity_feed);
DROP FUNCTION IF EXISTS vp_upgrade_map_notification(social_notifications);
DROP FUNCTION IF EXISTS vp_upgrade_map_settings(notification_preferences);

-- 0001's triggers and the functions phase 2 added (phase 1's own stay)
DROP TRIGGER IF EXISTS trigger_update_venue_check_in_stats ON check_ins;
DROP TRIGGER IF EXISTS trigger_update_venue_check_in_stats_upd ON check_ins;
DROP TRIGGER IF EXISTS trigger_reviews_changed ON reviews;
DROP TRIGGER IF EXISTS trigger_reviews_changed_upd ON reviews;
DROP TRIGGER IF EXISTS trigger_favorites_changed ON favorites;
DROP TRIGGER IF EXISTS trigger_collection_venues_changed ON collection_venues;
DROP TRIGGER IF EXISTS trigger_collections_deleting ON collections;
DROP TRIGGER IF EXISTS trigger_collections_owner_changed ON collections;
DROP TRIGGER IF EXISTS trigger_claims_changed ON flash_offer_claims;
DROP TRIGGER IF EXISTS trigger_claims_changed_upd ON flash_offer_claims;
DROP TRIGGER IF EXISTS trigger_offers_deleting ON flash_offers;
DROP TRIGGER IF EXISTS trigger_offers_venue_changed ON flash_offers;
