-- Undoes 0012_change_markers.up.sql.  The group role venuepulse_annotator is cluster-wide and other databases may
-- use it: it is left in place (as 0004 leaves its roles), this database's grant going with the function.
DROP EVENT TRIGGER IF EXISTS vp_change_markers_drop;
DROP EVENT TRIGGER IF EXISTS vp_change_markers_ddl;
DROP FUNCTION IF EXISTS vp_annotate(text, timestamptz, text);
DROP FUNCTION IF EXISTS vp_snapshot_schema();
DROP FUNCTION IF EXISTS vp_catalog_objects();
DROP TABLE IF EXISTS schema_catalog_snapshots;
DROP TABLE IF EXISTS schema_catalog;
DROP FUNCTION IF EXISTS vp_record_drop();
DROP FUNCTION IF EXISTS vp_record_ddl();
DROP FUNCTION IF EXISTS vp_acting_role();
DROP TABLE IF EXISTS change_markers;

-- pg_stat_statements snapshots as 0002 made them (its function verbatim)
DROP TABLE IF EXISTS pgss_entry_gaps;
ALTER TABLE pgss_latest DROP COLUMN IF EXISTS stats_since;
ALTER TABLE pgss_snapshots
  DROP COLUMN IF EXISTS info_available,
  DROP COLUMN IF EXISTS dealloc,
  DROP COLUMN IF EXISTS reset_seen,
  DROP COLUMN IF EXISTS evictions,
  DROP COLUMN IF EXISTS entry_gaps,
  DROP COLUMN IF EXISTS captured_ms,
  DROP COLUMN IF EXISTS active_time_ms,
  DROP COLUMN IF EXISTS active_ms;

-- Takes one snapshot of this database's statements; returns the number of delta rows stored (0 for
-- the first snapshot, which only sets the baseline).  Reads pg_stat_statements once, in one statement.
CREATE OR REPLACE FUNCTION vp_snapshot_stat_statements() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_reset      timestamptz;
  v_prev_reset timestamptz;
  v_first      boolean;
  v_snap       bigint;
  v_n          integer;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('venuepulse.pgss_snapshot'));
  SELECT stats_reset INTO v_reset FROM pg_stat_statements_info;
  SELECT stats_reset INTO v_prev_reset FROM pgss_snapshots ORDER BY id DESC LIMIT 1;
  v_first := NOT FOUND;
  INSERT INTO pgss_snapshots (stats_reset, baseline_only) VALUES (v_reset, v_first) RETURNING id INTO v_snap;

  WITH cur AS MATERIALIZED (
    SELECT s.userid, s.queryid, s.toplevel, s.query, s.calls, s.total_exec_time, s.rows,
           s.shared_blks_hit, s.shared_blks_read, s.temp_blks_written
    FROM pg_stat_statements(true) s
    WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND s.queryid IS NOT NULL),
  diff AS (
    SELECT c.*, (l.userid IS NULL OR c.calls < l.calls OR v_reset IS DISTINCT FROM v_prev_reset) AS restarted,
           l.calls AS l_calls, l.total_exec_time AS l_time, l.rows AS l_rows, l.shared_blks_hit AS l_hit,
           l.shared_blks_read AS l_read, l.temp_blks_written AS l_temp
    FROM cur c LEFT JOIN pgss_latest l USING (userid, queryid, toplevel)),
  ins AS (
    INSERT INTO pgss_deltas (snapshot_id, userid, queryid, toplevel, calls, total_exec_ms, rows,
                             shared_blks_hit, shared_blks_read, temp_blks_written)
    SELECT v_snap, userid, queryid, toplevel,
           CASE WHEN restarted THEN calls ELSE calls - l_calls END,
           greatest(CASE WHEN restarted THEN total_exec_time ELSE total_exec_time - l_time END, 0),
           greatest(CASE WHEN restarted THEN rows ELSE rows - l_rows END, 0),
           greatest(CASE WHEN restarted THEN shared_blks_hit ELSE shared_blks_hit - l_hit END, 0),
           greatest(CASE WHEN restarted THEN shared_blks_read ELSE shared_blks_read - l_read END, 0),
           greatest(CASE WHEN restarted THEN temp_blks_written ELSE temp_blks_written - l_temp END, 0)
    FROM diff
    WHERE NOT v_first AND (CASE WHEN restarted THEN calls ELSE calls - l_calls END) > 0
    RETURNING queryid),
  texts AS (
    INSERT INTO pgss_queries AS q (queryid, query_name, query)
    SELECT DISTINCT ON (queryid) queryid,
           (regexp_match(query, $re$/\*query_name='([a-z0-9_.]+)'\*/$re$))[1], left(query, 10000)
    FROM cur ORDER BY queryid, toplevel DESC
    ON CONFLICT (queryid) DO UPDATE SET last_seen = now(),
      query_name = coalesce(q.query_name, EXCLUDED.query_name)
    RETURNING 1),
  gone AS (
    DELETE FROM pgss_latest l
    WHERE NOT EXISTS (SELECT 1 FROM cur c WHERE (c.userid, c.queryid, c.toplevel) = (l.userid, l.queryid, l.toplevel))
    RETURNING 1),
  upd AS (
    INSERT INTO pgss_latest AS l (userid, queryid, toplevel, calls, total_exec_time, rows,
                                  shared_blks_hit, shared_blks_read, temp_blks_written)
    SELECT userid, queryid, toplevel, calls, total_exec_time, rows, shared_blks_hit, shared_blks_read,
           temp_blks_written
    FROM cur
    ON CONFLICT (userid, queryid, toplevel) DO UPDATE SET
      calls = EXCLUDED.calls, total_exec_time = EXCLUDED.total_exec_time, rows = EXCLUDED.rows,
      shared_blks_hit = EXCLUDED.shared_blks_hit, shared_blks_read = EXCLUDED.shared_blks_read,
      temp_blks_written = EXCLUDED.temp_blks_written
    RETURNING 1)
  -- data-modifying CTEs run to completion whether or not they are referenced
  SELECT count(*) FROM ins
  INTO v_n;

  UPDATE pgss_snapshots SET statements = v_n WHERE id = v_snap;
  RETURN v_n;
END;
$$;
