-- Wait sampling (issue 15): the sample_waits job reads pg_stat_activity every few seconds and adds each
-- active session it sees to the minute's row of (named query, wait event).  One row per minute bucket x
-- named query x query_id x wait event, so a busy server adds tens of rows a minute, not one per session.
--
--   query_name  the /*query_name='...'*/ tag of the statement; '' when the text shown has none (a statement
--               VenuePulse did not send, or one longer than track_activity_query_size, which cuts the tag)
--   query_id    pg_stat_activity.query_id (compute_query_id); 0 when not computed.  Readers name an untagged
--               row through pgss_queries (the pg_stat_statements snapshots' queryid -> name map)
--   wait_event_type / wait_event   as pg_stat_activity shows them; 'CPU' / 'CPU' for an active session
--               waiting on nothing (running, or in a wait PostgreSQL does not instrument)
--   samples     sessions seen so, summed over the minute's samples
--   seconds     the same, each weighted by the sampling interval in effect: the estimated time
--
-- Daily partitions kept by maintain_partitions like query_performance_log's, and dropped after the
-- policy's retention (14 days by default: UPDATE partition_policies to change it).
CREATE TABLE wait_samples (
  bucket          timestamptz NOT NULL,
  query_name      text NOT NULL DEFAULT '',
  query_id        bigint NOT NULL DEFAULT 0,
  wait_event_type text NOT NULL,
  wait_event      text NOT NULL,
  samples         integer NOT NULL CHECK (samples > 0),
  seconds         double precision NOT NULL CHECK (seconds > 0),
  PRIMARY KEY (bucket, query_name, query_id, wait_event_type, wait_event)
) PARTITION BY RANGE (bucket);
CREATE TABLE wait_samples_default PARTITION OF wait_samples DEFAULT;

INSERT INTO partition_policies (parent_table, partition_key, period, ahead, retention)
VALUES ('wait_samples', 'bucket', 'day', 7, interval '14 days');
SELECT vp_ensure_partitions('wait_samples', now() - interval '1 day', now() + interval '7 days');
