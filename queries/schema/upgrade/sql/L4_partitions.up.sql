-- Phase 4, preparation: partitioned replacements of check_ins and event_stream are built beside them
-- (check_ins_partitioned and event_stream_partitioned, created just before this file from 0001's
-- definitions), kept in step with the live tables by triggers while the batched copy runs.  The swap
-- (queries/upgrade/phases.py) then takes one short lock.

-- Monthly partitions of a replacement table, named and bounded as vp_ensure_partition names and bounds
-- the partitions of p_parent (so they keep their names after the swap).
CREATE FUNCTION vp_upgrade_shadow_partitions(p_parent text, p_shadow text, p_from timestamptz, p_to timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_at    timestamptz := date_trunc('month', p_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  v_end   timestamptz;
  v_name  text;
  v_made  integer := 0;
BEGIN
  IF p_parent NOT IN ('check_ins', 'event_stream') OR p_shadow <> p_parent || '_partitioned' THEN
    RAISE EXCEPTION 'unknown_partitioned_table: %', p_parent;
  END IF;
  WHILE v_at <= p_to LOOP
    v_end := ((v_at AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
    v_name := vp_partition_name(p_parent, 'month', v_at);
    IF to_regclass(quote_ident(v_name)) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', v_name, p_shadow, v_at, v_end);
      v_made := v_made + 1;
    END IF;
    v_at := v_end;
  END LOOP;
  RETURN v_made;
END;
$$;

CREATE FUNCTION vp_upgrade_sync_check_ins() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM check_ins_partitioned WHERE id = OLD.id AND checked_in_at = OLD.checked_in_at;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    INSERT INTO check_ins_partitioned (id, user_id, venue_id, checked_in_at, checked_out_at, is_active)
    VALUES (NEW.id, NEW.user_id, NEW.venue_id, NEW.checked_in_at, NEW.checked_out_at, NEW.is_active)
    ON CONFLICT (id, checked_in_at) DO UPDATE SET
      user_id = EXCLUDED.user_id, venue_id = EXCLUDED.venue_id, checked_out_at = EXCLUDED.checked_out_at,
      is_active = EXCLUDED.is_active;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER vp_upgrade_sync_check_ins
AFTER INSERT OR UPDATE OR DELETE ON check_ins FOR EACH ROW EXECUTE FUNCTION vp_upgrade_sync_check_ins();

CREATE FUNCTION vp_upgrade_sync_event_stream() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM event_stream_partitioned WHERE id = OLD.id AND created_at = OLD.created_at;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    INSERT INTO event_stream_partitioned (id, event_type, category, user_id, target_type, target_id, venue_id,
                                          source_id, visibility, metadata, is_analytics_event, created_at)
    VALUES (NEW.id, NEW.event_type, NEW.category, NEW.user_id, NEW.target_type, NEW.target_id, NEW.venue_id,
            NEW.source_id, NEW.visibility, NEW.metadata, NEW.is_analytics_event, NEW.created_at)
    ON CONFLICT (id, created_at) DO UPDATE SET
      event_type = EXCLUDED.event_type, category = EXCLUDED.category, user_id = EXCLUDED.user_id,
      target_type = EXCLUDED.target_type, target_id = EXCLUDED.target_id, venue_id = EXCLUDED.venue_id,
      source_id = EXCLUDED.source_id, visibility = EXCLUDED.visibility, metadata = EXCLUDED.metadata,
      is_analytics_event = EXCLUDED.is_analytics_event;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER vp_upgrade_sync_event_stream
AFTER INSERT OR UPDATE OR DELETE ON event_stream FOR EACH ROW EXECUTE FUNCTION vp_upgrade_sync_event_stream();
