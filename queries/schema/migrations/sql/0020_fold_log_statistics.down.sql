DO $$
DECLARE
  f record;
  v_call text := E'\n  PERFORM vp_rollup_log_analyze_if_stale();';
  v_def text;
BEGIN
  FOR f IN SELECT * FROM (VALUES ('vp_fold_activity()'), ('vp_fold_pairs()'), ('vp_fold_venue_stats()'),
                                 ('vp_fold_delays()')) AS t(fn)
  LOOP
    v_def := pg_get_functiondef(f.fn::regprocedure);
    IF array_length(string_to_array(v_def, v_call), 1) <> 2 THEN
      RAISE EXCEPTION '%: expected the statistics check exactly once', f.fn;
    END IF;
    EXECUTE replace(v_def, v_call, '');
  END LOOP;
END;
$$;
DROP FUNCTION vp_rollup_log_analyze_if_stale();
