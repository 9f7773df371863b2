-- Jobs: drift history for reconcile_counters and a guarded partition drop for retention.

-- One row per denormalized number found different from its recount (a venue's check-in counters, an
-- offer's counts, a user-venue interaction row).  `stored` is NULL for a missing row, `expected` NULL for
-- a row that should not exist.  Written by the reconcile job, read by the "Jobs & health" page.
CREATE TABLE counter_drift (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_run_id  bigint REFERENCES job_runs(id) ON DELETE SET NULL,
  detected_at timestamptz NOT NULL DEFAULT now(),
  kind        varchar(30) NOT NULL
              CHECK (kind IN ('venue_counters', 'flash_offer_counters', 'venue_interactions')),
  entity      jsonb NOT NULL CHECK (jsonb_typeof(entity) = 'object'),
  stored      jsonb,
  expected    jsonb,
  repaired    boolean NOT NULL DEFAULT false,
  CONSTRAINT counter_drift_something CHECK (stored IS NOT NULL OR expected IS NOT NULL)
);
CREATE INDEX idx_counter_drift_detected ON counter_drift (detected_at DESC);
CREATE INDEX idx_counter_drift_kind_detected ON counter_drift (kind, detected_at DESC);
CREATE INDEX idx_counter_drift_run ON counter_drift (job_run_id);

-- Drops one partition of a policy table whose whole range is older than the policy's retention.
-- Identifiers come from the catalog (partition_inventory), never from the arguments: an argument
-- that is not such a partition is refused.  Returns the dropped partition's range end.
CREATE FUNCTION vp_drop_expired_partition(p_parent text, p_partition text) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
  inv record;
BEGIN
  SELECT i.parent_table, i.partition_name, i.range_end INTO inv
  FROM partition_inventory i
  JOIN partition_policies p ON p.parent_table = i.parent_table
  WHERE i.parent_table = p_parent AND i.partition_name = p_partition AND NOT i.is_default
    AND p.retention IS NOT NULL AND i.range_end <= now() - p.retention;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'not_expired_partition: % is not a partition of % past its retention', p_partition, p_parent
      USING ERRCODE = 'P0001';
  END IF;
  EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', inv.parent_table, inv.partition_name);
  EXECUTE format('DROP TABLE %I', inv.partition_name);
  RETURN inv.range_end;
END;
$$;
