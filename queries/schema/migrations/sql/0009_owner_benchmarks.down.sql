-- Reverses 0009_owner_benchmarks.up.sql.
DROP FUNCTION IF EXISTS vp_offer_benchmarks(uuid[]);
ALTER TABLE venues DROP COLUMN IF EXISTS timezone;
