-- The Venues page reads venue_stats_rows for the ids of a page in engagement-score order (an index
-- walk; through the security-barrier view venue_stats_visible every visible row would be read and
-- sorted), so the table carries the same row-level security as the other venue-keyed tables and venue
-- owners may select it.  The view venue_stats (and its meaning) is unchanged: it reads the table as its
-- owner, to whom the policy does not apply.
ALTER TABLE venue_stats_rows ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON venue_stats_rows
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));
GRANT SELECT ON venue_stats_rows TO venuepulse_owner;
