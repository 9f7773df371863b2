DROP INDEX IF EXISTS idx_flash_offers_end;
DROP INDEX IF EXISTS idx_venues_name;
