-- The Offers page walks these instead of reading every venue / every offer of a period (issue 13).
-- Venues in the filter's order (name, city, id): the first ones with an offer are found by an EXISTS
-- probe into idx_flash_offers_venue_start, so the cost follows the list shown, not the venue count.
CREATE INDEX idx_venues_name ON venues (name, city, id);
-- Offers that started before a period and end inside or after it (the list's straddlers).
CREATE INDEX idx_flash_offers_end ON flash_offers (end_time);
