-- Reverses 0005_offer_funnel.up.sql.
DROP FUNCTION IF EXISTS offer_funnel_users(timestamptz, timestamptz, uuid, uuid);
