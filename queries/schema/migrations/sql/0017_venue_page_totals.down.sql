REVOKE SELECT ON venue_stats_rows FROM venuepulse_owner;
DROP POLICY vp_venue_scope ON venue_stats_rows;
ALTER TABLE venue_stats_rows DISABLE ROW LEVEL SECURITY;
