-- Undoes 0015_engagement_rollups.up.sql.
DROP TRIGGER vp_venue_stats_scores_ins ON venue_stats_scores;
DROP TRIGGER vp_venue_stats_scores_upd ON venue_stats_scores;
DROP TRIGGER vp_venue_stats_scores_del ON venue_stats_scores;
DROP FUNCTION vp_venue_stats_scores_changed();
DROP FUNCTION vp_venue_stats_summary_refresh(text[]);
DROP TABLE venue_stats_score_summary;
DELETE FROM rollup_consumers WHERE consumer = 'delays';
DROP FUNCTION vp_fold_delays();
DROP FUNCTION vp_rebuild_delays(timestamptz, timestamptz);
DROP FUNCTION vp_recount_delays(timestamptz[], text[]);
DROP FUNCTION vp_notification_delays(timestamptz, timestamptz, timestamptz);
DROP TABLE rollup_notification_delays;
DROP TABLE rollup_notification_delay_bins;
DROP FUNCTION vp_day_nodes(timestamptz, timestamptz);
DROP FUNCTION vp_day_node(timestamptz, integer);
DROP FUNCTION vp_delay_bin(bigint);
DROP FUNCTION vp_delay_tenths(timestamptz, timestamptz);
ALTER TABLE rollup_consumers DROP CONSTRAINT rollup_consumers_consumer_check;
ALTER TABLE rollup_consumers ADD CONSTRAINT rollup_consumers_consumer_check
  CHECK (consumer IN ('activity', 'pairs', 'venue_stats'));
