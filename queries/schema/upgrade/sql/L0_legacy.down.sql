-- Removes the legacy baseline (an empty database again).  Only for rehearsal databases.
DROP TABLE IF EXISTS activity_feed;
DROP TABLE IF EXISTS social_notifications;
DROP TABLE IF EXISTS notification_preferences;
DROP TABLE IF EXISTS flash_offer_rate_limits;
DROP TABLE IF EXISTS flash_offer_events;
DROP TABLE IF EXISTS flash_offer_claims;
DROP TABLE IF EXISTS flash_offers;
DROP TABLE IF EXISTS device_tokens;
DROP TABLE IF EXISTS collection_venues;
DROP TABLE IF EXISTS collections;
DROP TABLE IF EXISTS favorites;
DROP TABLE IF EXISTS reviews;
DROP TABLE IF EXISTS check_ins;
DROP TABLE IF EXISTS venue_owners;
DROP TABLE IF EXISTS venues;
DROP TABLE IF EXISTS friendships;
DROP TABLE IF EXISTS users;
