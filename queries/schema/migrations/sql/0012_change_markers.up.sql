-- Change markers (DDL and deploy annotations) and pg_stat_statements integrity (resets, evictions, gaps)
-- (issue 15; docs/dashboard-engineering.md, "Change markers" and "pg_stat_statements integrity").

-- ---------------------------------------------------------------------------------------------------
-- Change markers: what changed and when, drawn on the trend charts and listed beside a regression.
--   ddl      recorded as it happens by an event trigger (where the migrating role may create one: superuser),
--            otherwise found by the snapshot_schema job comparing catalog definitions with its last reading
--            (then the change happened in (detected_after, at]);
--   deploy, config, incident, note   written by `venuepulse annotate` or vp_annotate() (CI pipelines).
-- routine marks the maintenance job's own partitions (made ahead, dropped by retention): kept, not charted.
-- ---------------------------------------------------------------------------------------------------
CREATE TABLE change_markers (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at               timestamptz NOT NULL,
  kind             text NOT NULL CHECK (kind IN ('ddl', 'deploy', 'config', 'incident', 'note')),
  source           text NOT NULL CHECK (source IN ('event_trigger', 'snapshot', 'annotate')),
  description      text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
  command_tag      text,
  object_type      text,
  object_identity  text,
  role_name        text NOT NULL,
  application_name text,
  detected_after   timestamptz,
  routine          boolean NOT NULL DEFAULT false,
  xact             bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
  recorded_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK ((source = 'snapshot') = (detected_after IS NOT NULL)),
  CHECK ((kind = 'ddl') = (source <> 'annotate'))
);
CREATE INDEX idx_change_markers_at ON change_markers (at);

-- Who made the change: the role set with SET ROLE, else the session's login role (inside a SECURITY
-- DEFINER function current_user is the function's owner, not the caller).
CREATE FUNCTION vp_acting_role() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  SELECT CASE WHEN coalesce(current_setting('role', true), 'none') IN ('none', '') THEN session_user::text
              ELSE current_setting('role', true) END
$$;

-- The event triggers' functions.  SECURITY DEFINER so that any role's DDL can be recorded without that
-- role being allowed to write markers itself; they never make the DDL fail (a warning instead).
CREATE FUNCTION vp_record_ddl() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
    CONTINUE WHEN r.in_extension OR r.schema_name LIKE 'pg\_temp%' OR r.schema_name LIKE 'pg\_toast%';
    INSERT INTO public.change_markers (at, kind, source, description, command_tag, object_type, object_identity,
                                       role_name, application_name, routine)
    VALUES (clock_timestamp(), 'ddl', 'event_trigger', left(r.command_tag || ' ' || coalesce(r.object_identity, ''), 500),
            r.command_tag, r.object_type, r.object_identity, vp_acting_role(), current_setting('application_name', true),
            EXISTS (SELECT 1 FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid
                    LEFT JOIN pg_class t ON t.oid = i.indrelid
                    WHERE c.oid = r.objid AND r.classid = 'pg_class'::regclass
                      AND (c.relispartition OR coalesce(t.relispartition, false))));
  END LOOP;
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'VenuePulse could not record a change marker for this DDL: %', SQLERRM;
END;
$$;

CREATE FUNCTION vp_record_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
    CONTINUE WHEN NOT r.original OR r.is_temporary OR r.schema_name LIKE 'pg\_temp%' OR r.schema_name LIKE 'pg\_toast%';
    INSERT INTO public.change_markers (at, kind, source, description, command_tag, object_type, object_identity,
                                       role_name, application_name, routine)
    VALUES (clock_timestamp(), 'ddl', 'event_trigger', left(tg_tag || ' ' || coalesce(r.object_identity, ''), 500),
            tg_tag, r.object_type, r.object_identity, vp_acting_role(), current_setting('application_name', true),
            -- retention drops old partitions from the jobs' connections
            coalesce(current_setting('application_name', true), '') LIKE 'venuepulse-job%');
  END LOOP;
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'VenuePulse could not record a change marker for this DROP: %', SQLERRM;
END;
$$;
REVOKE ALL ON FUNCTION vp_record_ddl(), vp_record_drop() FROM PUBLIC;

-- Creating an event trigger needs a superuser; a managed service's admin role is not one.  Where it is
-- refused the migration goes on and the snapshot_schema job finds the changes instead (coarser in time).
DO $$
BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RAISE NOTICE 'change markers: not a superuser, so no event trigger; the snapshot_schema job detects DDL instead';
    RETURN;
  END IF;
  CREATE EVENT TRIGGER vp_change_markers_ddl ON ddl_command_end EXECUTE FUNCTION vp_record_ddl();
  CREATE EVENT TRIGGER vp_change_markers_drop ON sql_drop EXECUTE FUNCTION vp_record_drop();
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'change markers: could not create the event triggers (%); the snapshot_schema job detects DDL instead', SQLERRM;
END;
$$;

-- The fallback: one definition hash per table (columns, defaults, constraints), index and function of the
-- non-system schemas, as the last snapshot saw them.
CREATE TABLE schema_catalog (
  object_type     text NOT NULL,
  object_identity text NOT NULL,
  def_hash        text NOT NULL,
  routine         boolean NOT NULL,
  PRIMARY KEY (object_type, object_identity)
);
CREATE TABLE schema_catalog_snapshots (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  taken_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  objects  integer NOT NULL,
  changes  integer NOT NULL,
  recorded boolean NOT NULL  -- false: the event triggers record DDL here, the snapshot only kept its baseline
);

CREATE FUNCTION vp_catalog_objects()
RETURNS TABLE (object_type text, object_identity text, def_hash text, routine boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\_toast%'
      AND nspname NOT LIKE 'pg\_temp%'),
  ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
  SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                        WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END,
         quote_ident(ns.nspname) || '.' || quote_ident(c.relname),
         md5(c.relkind::text || coalesce((
           SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                             || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                             || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum)
           FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
           || coalesce((SELECT string_agg(co.conname || ' ' || pg_get_constraintdef(co.oid), ', ' ORDER BY co.conname)
                        FROM pg_constraint co WHERE co.conrelid = c.oid), '')
           || CASE WHEN c.relkind IN ('v', 'm') THEN coalesce(pg_get_viewdef(c.oid), '') ELSE '' END),
         c.relispartition
  FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_class'::regclass AND ext.objid = c.oid)
  UNION ALL
  SELECT 'index', quote_ident(ns.nspname) || '.' || quote_ident(c.relname), md5(pg_get_indexdef(c.oid)),
         t.relispartition
  FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
  JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_class t ON t.oid = i.indrelid
  WHERE c.relkind IN ('i', 'I')
    AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_class'::regclass AND ext.objid = t.oid)
  UNION ALL
  SELECT 'function', quote_ident(ns.nspname) || '.' || quote_ident(p.proname)
                     || '(' || pg_get_function_identity_arguments(p.oid) || ')',
         md5(pg_get_functiondef(p.oid)), false
  FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
  WHERE p.prokind IN ('f', 'p')
    AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_proc'::regclass AND ext.objid = p.oid)
$$;

-- Compares the catalog with the last snapshot; records each created, altered or dropped object as a
-- marker (unless this database's event triggers record DDL already) and returns how many it recorded.
-- The first snapshot only sets the baseline.
CREATE FUNCTION vp_snapshot_schema() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  v_prev     timestamptz;
  v_now      timestamptz := clock_timestamp();
  v_triggers boolean;
  v_objects  integer;
  v_changes  integer;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('venuepulse.schema_snapshot'));
  SELECT taken_at INTO v_prev FROM schema_catalog_snapshots ORDER BY id DESC LIMIT 1;
  v_triggers := (SELECT count(*) = 2 FROM pg_event_trigger
                 WHERE evtname IN ('vp_change_markers_ddl', 'vp_change_markers_drop') AND evtenabled <> 'D');
  IF to_regclass('pg_temp.vp_catalog_now') IS NULL THEN
    CREATE TEMP TABLE vp_catalog_now (LIKE schema_catalog) ON COMMIT DROP;
  END IF;
  INSERT INTO vp_catalog_now SELECT * FROM vp_catalog_objects();
  GET DIAGNOSTICS v_objects = ROW_COUNT;

  WITH changed AS (
    SELECT coalesce(n.object_type, o.object_type) AS object_type,
           coalesce(n.object_identity, o.object_identity) AS object_identity,
           CASE WHEN o.object_type IS NULL THEN 'CREATE' WHEN n.object_type IS NULL THEN 'DROP' ELSE 'ALTER' END AS verb,
           coalesce(n.routine, o.routine) AS routine
    FROM vp_catalog_now n FULL JOIN schema_catalog o USING (object_type, object_identity)
    WHERE n.def_hash IS DISTINCT FROM o.def_hash),
  ins AS (
    INSERT INTO change_markers (at, kind, source, description, command_tag, object_type, object_identity, role_name,
                                application_name, detected_after, routine)
    SELECT v_now, 'ddl', 'snapshot',
           left(format('%s %s %s (detected by snapshot, within %s)', verb, upper(object_type), object_identity,
                       date_trunc('second', v_now - v_prev)), 500),
           verb || ' ' || upper(object_type), object_type, object_identity, vp_acting_role(),
           current_setting('application_name', true), v_prev, routine
    FROM changed
    WHERE v_prev IS NOT NULL AND NOT v_triggers
    RETURNING 1)
  SELECT count(*) INTO v_changes FROM ins;

  DELETE FROM schema_catalog;
  INSERT INTO schema_catalog SELECT * FROM vp_catalog_now;
  INSERT INTO schema_catalog_snapshots (taken_at, objects, changes, recorded)
  VALUES (v_now, v_objects, v_changes, NOT v_triggers);
  DROP TABLE pg_temp.vp_catalog_now;
  RETURN v_changes;
END;
$$;

-- ---------------------------------------------------------------------------------------------------
-- Deploy markers from people and CI pipelines: `venuepulse annotate`, or this function through a role
-- that is a member of venuepulse_annotator (docs: "Change markers").  Refusals start with the field's
-- reason word: bad_text, bad_kind, bad_at.
-- ---------------------------------------------------------------------------------------------------
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'venuepulse_annotator') THEN
    BEGIN
      CREATE ROLE venuepulse_annotator NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;  -- another database's migration created it at the same moment
    END;
  END IF;
END;
$$;

CREATE FUNCTION vp_annotate(p_text text, p_at timestamptz DEFAULT now(), p_kind text DEFAULT 'deploy')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_id bigint;
BEGIN
  IF p_text IS NULL OR btrim(p_text) = '' OR length(p_text) > 500 THEN
    RAISE EXCEPTION 'bad_text: the text must be 1 to 500 characters (got %)', coalesce(length(p_text)::text, 'NULL')
      USING ERRCODE = '22023';
  END IF;
  IF p_kind IS NULL OR p_kind NOT IN ('deploy', 'config', 'incident', 'note') THEN
    RAISE EXCEPTION 'bad_kind: the kind must be deploy, config, incident or note (got %)', coalesce(p_kind, 'NULL')
      USING ERRCODE = '22023';
  END IF;
  IF p_at IS NULL OR p_at > now() + interval '1 day' OR p_at < now() - interval '400 days' THEN
    RAISE EXCEPTION 'bad_at: the time must be within the last 400 days and at most 1 day ahead (got %)',
      coalesce(p_at::text, 'NULL') USING ERRCODE = '22023';
  END IF;
  INSERT INTO change_markers (at, kind, source, description, role_name, application_name)
  VALUES (p_at, p_kind, 'annotate', btrim(p_text), vp_acting_role(), current_setting('application_name', true))
  RETURNING id INTO v_id;
  RETURN v_id;
END;
$$;
REVOKE ALL ON FUNCTION vp_annotate(text, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vp_annotate(text, timestamptz, text) TO venuepulse_annotator;
REVOKE ALL ON FUNCTION vp_snapshot_schema() FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------------
-- pg_stat_statements integrity.  Each snapshot records the extension's reset time and deallocation count
-- (pg_stat_statements_info) and the database's active time; an entry whose counters went down, whose
-- stats_since moved (extension 1.11+, PostgreSQL 17+), or that every entry lost to a reset, starts a new
-- baseline and gets a gap row, as does an entry that disappeared (evicted, or reset on its own).  No delta
-- is ever negative.
-- ---------------------------------------------------------------------------------------------------
ALTER TABLE pgss_snapshots
  ADD COLUMN info_available boolean NOT NULL DEFAULT true,
  ADD COLUMN dealloc        bigint,
  ADD COLUMN reset_seen     boolean NOT NULL DEFAULT false,
  ADD COLUMN evictions      bigint,
  ADD COLUMN entry_gaps     integer NOT NULL DEFAULT 0,
  ADD COLUMN captured_ms    double precision,
  ADD COLUMN active_time_ms double precision,
  ADD COLUMN active_ms      double precision;
ALTER TABLE pgss_latest ADD COLUMN stats_since timestamptz;

CREATE TABLE pgss_entry_gaps (
  snapshot_id bigint NOT NULL REFERENCES pgss_snapshots (id) ON DELETE CASCADE,
  userid      oid NOT NULL,
  queryid     bigint NOT NULL,
  toplevel    boolean NOT NULL,
  reason      text NOT NULL CHECK (reason IN ('reset', 'recreated', 'counter_down', 'evicted')),
  PRIMARY KEY (snapshot_id, userid, queryid, toplevel)
);
CREATE INDEX idx_pgss_entry_gaps_queryid ON pgss_entry_gaps (queryid);

CREATE OR REPLACE FUNCTION vp_snapshot_stat_statements() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_prev       pgss_snapshots%ROWTYPE;
  v_first      boolean;
  v_info       boolean := false;
  v_reset      timestamptz;
  v_dealloc    bigint;
  v_reset_seen boolean := false;
  v_active     double precision;
  v_snap       bigint;
  v_n          integer;
  v_gaps       integer;
  v_ms         double precision;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('venuepulse.pgss_snapshot'));
  -- pg_stat_statements_info comes with extension version 1.9; PUBLIC may read it unless an admin revoked that
  IF to_regclass('pg_stat_statements_info') IS NOT NULL
     AND has_table_privilege(to_regclass('pg_stat_statements_info'), 'SELECT') THEN
    EXECUTE 'SELECT stats_reset, dealloc FROM pg_stat_statements_info' INTO v_reset, v_dealloc;
    v_info := true;
  END IF;
  SELECT active_time INTO v_active FROM pg_stat_database WHERE datname = current_database();
  SELECT * INTO v_prev FROM pgss_snapshots ORDER BY id DESC LIMIT 1;
  v_first := NOT FOUND;
  IF NOT v_first AND v_info AND v_prev.info_available THEN
    v_reset_seen := v_reset IS DISTINCT FROM v_prev.stats_reset;
  END IF;

  -- The reading, once.  stats_since exists from extension version 1.11 on: the column list is chosen here.
  IF to_regclass('pg_temp.vp_pgss_cur') IS NOT NULL THEN
    DROP TABLE pg_temp.vp_pgss_cur;
  END IF;
  EXECUTE format($sql$
    CREATE TEMP TABLE vp_pgss_cur ON COMMIT DROP AS
    SELECT s.userid, s.queryid, s.toplevel, s.query, s.calls, s.total_exec_time, s.rows, s.shared_blks_hit,
           s.shared_blks_read, s.temp_blks_written, %s AS stats_since
    FROM pg_stat_statements(true) s
    WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.queryid IS NOT NULL$sql$,
    CASE WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('pg_stat_statements')
                      AND attname = 'stats_since' AND NOT attisdropped)
         THEN 's.stats_since' ELSE 'NULL::timestamptz' END);

  INSERT INTO pgss_snapshots (stats_reset, baseline_only, info_available, dealloc, reset_seen, evictions,
                              active_time_ms, active_ms)
  VALUES (v_reset, v_first, v_info, v_dealloc, v_reset_seen,
          CASE WHEN v_first OR NOT v_info OR v_prev.dealloc IS NULL THEN NULL
               WHEN v_reset_seen THEN v_dealloc
               ELSE greatest(v_dealloc - v_prev.dealloc, 0) END,
          v_active,
          CASE WHEN v_active >= v_prev.active_time_ms THEN v_active - v_prev.active_time_ms END)
  RETURNING id INTO v_snap;

  WITH diff AS (
    SELECT c.*, l.userid IS NULL AS is_new,
           CASE WHEN l.userid IS NULL THEN NULL
                WHEN v_reset_seen THEN 'reset'
                WHEN c.stats_since IS DISTINCT FROM l.stats_since AND c.stats_since IS NOT NULL
                     AND l.stats_since IS NOT NULL THEN 'recreated'
                WHEN c.calls < l.calls OR c.total_exec_time < l.total_exec_time OR c.rows < l.rows
                     OR c.shared_blks_hit < l.shared_blks_hit OR c.shared_blks_read < l.shared_blks_read
                     OR c.temp_blks_written < l.temp_blks_written THEN 'counter_down'
           END AS restart,
           l.calls AS l_calls, l.total_exec_time AS l_time, l.rows AS l_rows, l.shared_blks_hit AS l_hit,
           l.shared_blks_read AS l_read, l.temp_blks_written AS l_temp
    FROM vp_pgss_cur c LEFT JOIN pgss_latest l USING (userid, queryid, toplevel)),
  d AS (
    -- a new entry, or one starting over, counts from zero: all of it happened since the last snapshot
    SELECT userid, queryid, toplevel, restart, is_new OR restart IS NOT NULL AS whole, calls, total_exec_time, rows,
           shared_blks_hit, shared_blks_read, temp_blks_written, l_calls, l_time, l_rows, l_hit, l_read, l_temp
    FROM diff),
  ins AS (
    INSERT INTO pgss_deltas (snapshot_id, userid, queryid, toplevel, calls, total_exec_ms, rows,
                             shared_blks_hit, shared_blks_read, temp_blks_written)
    SELECT v_snap, userid, queryid, toplevel,
           CASE WHEN whole THEN calls ELSE calls - l_calls END,
           greatest(CASE WHEN whole THEN total_exec_time ELSE total_exec_time - l_time END, 0),
           greatest(CASE WHEN whole THEN rows ELSE rows - l_rows END, 0),
           greatest(CASE WHEN whole THEN shared_blks_hit ELSE shared_blks_hit - l_hit END, 0),
           greatest(CASE WHEN whole THEN shared_blks_read ELSE shared_blks_read - l_read END, 0),
           greatest(CASE WHEN whole THEN temp_blks_written ELSE temp_blks_written - l_temp END, 0)
    FROM d
    WHERE NOT v_first AND (CASE WHEN whole THEN calls ELSE calls - l_calls END) > 0
    RETURNING toplevel, total_exec_ms),
  gaps AS (
    INSERT INTO pgss_entry_gaps (snapshot_id, userid, queryid, toplevel, reason)
    SELECT v_snap, userid, queryid, toplevel, restart FROM d WHERE NOT v_first AND restart IS NOT NULL
    UNION ALL
    SELECT v_snap, l.userid, l.queryid, l.toplevel, CASE WHEN v_reset_seen THEN 'reset' ELSE 'evicted' END
    FROM pgss_latest l
    WHERE NOT v_first
      AND NOT EXISTS (SELECT 1 FROM vp_pgss_cur c WHERE (c.userid, c.queryid, c.toplevel) = (l.userid, l.queryid, l.toplevel))
    RETURNING 1),
  texts AS (
    INSERT INTO pgss_queries AS q (queryid, query_name, query)
    SELECT DISTINCT ON (queryid) queryid,
           (regexp_match(query, $re$/\*query_name='([a-z0-9_.]+)'\*/$re$))[1], left(query, 10000)
    FROM vp_pgss_cur ORDER BY queryid, toplevel DESC
    ON CONFLICT (queryid) DO UPDATE SET last_seen = now(),
      query_name = coalesce(q.query_name, EXCLUDED.query_name)
    RETURNING 1),
  gone AS (
    DELETE FROM pgss_latest l
    WHERE NOT EXISTS (SELECT 1 FROM vp_pgss_cur c WHERE (c.userid, c.queryid, c.toplevel) = (l.userid, l.queryid, l.toplevel))
    RETURNING 1),
  upd AS (
    INSERT INTO pgss_latest AS l (userid, queryid, toplevel, calls, total_exec_time, rows,
                                  shared_blks_hit, shared_blks_read, temp_blks_written, stats_since)
    SELECT userid, queryid, toplevel, calls, total_exec_time, rows, shared_blks_hit, shared_blks_read,
           temp_blks_written, stats_since
    FROM vp_pgss_cur
    ON CONFLICT (userid, queryid, toplevel) DO UPDATE SET
      calls = EXCLUDED.calls, total_exec_time = EXCLUDED.total_exec_time, rows = EXCLUDED.rows,
      shared_blks_hit = EXCLUDED.shared_blks_hit, shared_blks_read = EXCLUDED.shared_blks_read,
      temp_blks_written = EXCLUDED.temp_blks_written, stats_since = EXCLUDED.stats_since
    RETURNING 1)
  -- data-modifying CTEs run to completion whether or not they are referenced
  SELECT (SELECT count(*) FROM ins), (SELECT sum(total_exec_ms) FILTER (WHERE toplevel) FROM ins),
         (SELECT count(*) FROM gaps)
  INTO v_n, v_ms, v_gaps;

  UPDATE pgss_snapshots
  SET statements = v_n, entry_gaps = v_gaps, captured_ms = CASE WHEN NOT v_first THEN coalesce(v_ms, 0) END
  WHERE id = v_snap;
  DROP TABLE pg_temp.vp_pgss_cur;
  RETURN v_n;
END;
$$;
