-- Query analytics (issue 4): hourly latency histograms that outlive the raw query_performance_log rows,
-- and pg_stat_statements snapshots stored as differences (the extension is never reset).

-- ---------------------------------------------------------------------------------------------------
-- Log-spaced latency buckets: bucket b holds [0.001 ms * 2^(b/8), 0.001 ms * 2^((b+1)/8)), i.e. eight
-- buckets per doubling (each about 9% wide), b = 0..255 (0.001 ms .. about 71 minutes; values outside
-- are clamped into the first / last bucket).
-- ---------------------------------------------------------------------------------------------------
CREATE FUNCTION vp_perf_bucket(ms double precision) RETURNS smallint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN ms <= 0.001 THEN 0
              ELSE least(255, greatest(0, floor(8 * ln(ms / 0.001) / ln(2))))::smallint END
$$;

CREATE FUNCTION vp_perf_bucket_lower(b integer) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT 0.001 * power(2.0::double precision, b / 8.0)
$$;

-- One row per query name and complete hour.
CREATE TABLE query_perf_hourly (
  query_name varchar(100) NOT NULL,
  hour       timestamptz NOT NULL CHECK (hour = date_trunc('hour', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'),
  calls      bigint NOT NULL CHECK (calls > 0),
  failed     bigint NOT NULL DEFAULT 0 CHECK (failed >= 0),
  total_ms   double precision NOT NULL CHECK (total_ms >= 0),
  min_ms     double precision NOT NULL,
  max_ms     double precision NOT NULL,
  total_rows bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (query_name, hour)
);
CREATE INDEX idx_query_perf_hourly_hour ON query_perf_hourly (hour);

-- The histogram of that hour: calls per bucket (only non-empty buckets).  Mergeable by summing.
CREATE TABLE query_perf_hourly_buckets (
  query_name varchar(100) NOT NULL,
  hour       timestamptz NOT NULL,
  bucket     smallint NOT NULL CHECK (bucket BETWEEN 0 AND 255),
  calls      bigint NOT NULL CHECK (calls > 0),
  PRIMARY KEY (query_name, hour, bucket),
  FOREIGN KEY (query_name, hour) REFERENCES query_perf_hourly (query_name, hour) ON DELETE CASCADE
);

-- Hours already rolled up (so the rollup is idempotent and never counts an hour twice).
CREATE TABLE query_perf_rollups (
  hour        timestamptz PRIMARY KEY,
  rolled_at   timestamptz NOT NULL DEFAULT now(),
  query_names integer NOT NULL,
  calls       bigint NOT NULL
);

-- ---------------------------------------------------------------------------------------------------
-- pg_stat_statements snapshots.  pgss_latest keeps the cumulative counters seen by the last snapshot;
-- each snapshot stores only what changed since (pgss_deltas).  A counter that went down (the
-- extension was reset by someone, or the entry was evicted and came back) starts over from zero.
-- ---------------------------------------------------------------------------------------------------
CREATE TABLE pgss_snapshots (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  taken_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  stats_reset   timestamptz,
  baseline_only boolean NOT NULL,
  statements    integer NOT NULL DEFAULT 0
);
CREATE INDEX idx_pgss_snapshots_taken ON pgss_snapshots (taken_at);

CREATE TABLE pgss_queries (
  queryid    bigint PRIMARY KEY,
  query_name text,          -- from the /*query_name='...'*/ tag; NULL for statements VenuePulse did not send
  query      text NOT NULL,
  first_seen timestamptz NOT NULL DEFAULT now(),
  last_seen  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_pgss_queries_name ON pgss_queries (query_name) WHERE query_name IS NOT NULL;

CREATE TABLE pgss_latest (
  userid            oid NOT NULL,
  queryid           bigint NOT NULL,
  toplevel          boolean NOT NULL,
  calls             bigint NOT NULL,
  total_exec_time   double precision NOT NULL,
  rows              bigint NOT NULL,
  shared_blks_hit   bigint NOT NULL,
  shared_blks_read  bigint NOT NULL,
  temp_blks_written bigint NOT NULL,
  PRIMARY KEY (userid, queryid, toplevel)
);

CREATE TABLE pgss_deltas (
  snapshot_id       bigint NOT NULL REFERENCES pgss_snapshots (id) ON DELETE CASCADE,
  userid            oid NOT NULL,
  queryid           bigint NOT NULL,
  toplevel          boolean NOT NULL,
  calls             bigint NOT NULL CHECK (calls > 0),
  total_exec_ms     double precision NOT NULL,
  rows              bigint NOT NULL,
  shared_blks_hit   bigint NOT NULL,
  shared_blks_read  bigint NOT NULL,
  temp_blks_written bigint NOT NULL,
  PRIMARY KEY (snapshot_id, userid, queryid, toplevel)
);
CREATE INDEX idx_pgss_deltas_queryid ON pgss_deltas (queryid);

-- Takes one snapshot of this database's statements; returns the number of delta rows stored (0 for
-- the first snapshot, which only sets the baseline).  Reads pg_stat_statements once, in one statement.
CREATE FUNCTION vp_snapshot_stat_statements() RETURNS integer
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

-- The extension, only where the server preloads its library (otherwise CREATE EXTENSION succeeds but
-- every read fails).  A role that may not create it, or a server without contrib, skips with a notice;
-- `venuepulse db status` and the Query performance page then say how to enable it.
-- Reading shared_preload_libraries needs pg_read_all_settings, which a managed service's admin role often
-- lacks: the library defines its settings only when preloaded, and anyone may see them in pg_settings
-- (unlike current_setting(), pg_settings never lists a placeholder set in postgresql.conf).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'pg_stat_statements.max') THEN
    BEGIN
      CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
    EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
      RAISE NOTICE 'pg_stat_statements not installed (%): run CREATE EXTENSION pg_stat_statements as a superuser (a managed service''s console lists it under extensions)', SQLERRM;
    END;
  ELSE
    RAISE NOTICE 'pg_stat_statements is not in shared_preload_libraries; query statistics stay off';
  END IF;
END;
$$;
