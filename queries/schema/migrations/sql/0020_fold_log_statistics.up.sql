-- rollup_log is empty most of the time (every fold collects what all consumers have folded), so
-- autovacuum usually analyzes it empty. A burst (10,000 check-ins between two folds, or the jobs
-- process down for a while) then meets plans made for one row: nested loops over tens of thousands of
-- log rows and changed venues. Measured at medium: venue_stats' fold of 31,915 log rows took 2,825 ms
-- with the statistics of an empty log and 353 ms with statistics near its size. Each fold now first
-- compares the log's size with what the planner believes and analyzes it when they are far apart; its
-- statements are then planned for the batch in front of them (ANALYZE invalidates the cached plans).

-- True when it analyzed. The count stops at the bound it checks against, so it costs at most the
-- smaller of the log's rows and twice its estimate (plus 1,000).
CREATE FUNCTION vp_rollup_log_analyze_if_stale() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_est  double precision;
  v_high bigint;
  v_rows bigint;
BEGIN
  SELECT greatest(reltuples, 0) INTO v_est FROM pg_class WHERE oid = 'rollup_log'::regclass;
  v_high := (2 * v_est + 1000)::bigint;
  SELECT count(*) INTO v_rows FROM (SELECT 1 FROM rollup_log LIMIT v_high + 1) x;
  IF v_rows > v_high OR v_rows < v_est / 2 - 1000 THEN
    ANALYZE rollup_log;  -- a role that may not analyze it gets a warning and the plans it had
    RETURN true;
  END IF;
  RETURN false;
END;
$$;
REVOKE ALL ON FUNCTION vp_rollup_log_analyze_if_stale() FROM PUBLIC;  -- the folds run as the tables' owner

-- Each fold calls it right after taking its consumer's lock. The fold functions' bodies are long and
-- otherwise unchanged, so the call is inserted into their current definitions (and removed by the
-- downgrade) rather than each body being repeated here.
DO $$
DECLARE
  f record;
  v_def text;
  v_anchor text;
BEGIN
  FOR f IN SELECT * FROM (VALUES ('vp_fold_activity()', 'activity'), ('vp_fold_pairs()', 'pairs'),
                                 ('vp_fold_venue_stats()', 'venue_stats'), ('vp_fold_delays()', 'delays')) AS t(fn, consumer)
  LOOP
    v_def := pg_get_functiondef(f.fn::regprocedure);
    v_anchor := format('PERFORM pg_advisory_xact_lock(vp_rollup_lock_key(%L));', f.consumer);
    IF array_length(string_to_array(v_def, v_anchor), 1) <> 2 THEN
      RAISE EXCEPTION '%: expected its lock statement exactly once', f.fn;
    END IF;
    EXECUTE replace(v_def, v_anchor, v_anchor || E'\n  PERFORM vp_rollup_log_analyze_if_stale();');
  END LOOP;
END;
$$;
