-- Rollups that make Engagement's exact figures read flat as history grows (issue 13; docs/rollups.md).
--
-- Engagement's "median minutes to read / to click" per notification category used to sort every
-- notification of the range.  The number is now defined as the page shows it: each notification's
-- minutes from creation to read (to click), to the nearest 0.1 minute, and the median is the middle
-- one of those (the lower of the two middle ones for an even count: percentile_disc(0.5)).  A count
-- of notifications per (day, category, delay in tenths of a minute) then gives it exactly.  So that a
-- range reads a bounded number of rows whatever the app's volume:
--   * time: counts are kept per UTC day (level 0) and per aligned span of 2^level days (levels 1-7, up
--     to 128 days; vp_day_node), and a range of whole days is read as its few aligned spans
--     (vp_day_nodes: about 2 per level, 8 for 30 days) instead of one row set per day;
--   * value: rollup_notification_delay_bins counts per span, category, kind ('r' read, 'c' click) and
--     delay bin (vp_delay_bin: exact up to 1.5 minutes, then 8 bins per doubling), a few dozen rows;
--     rollup_notification_delays counts per exact delay, read only for the one bin that holds the
--     median (found from the bins).
-- A new consumer, 'delays', keeps them from the change log the notifications' capture already writes
-- (revision 0007; the capture is not changed here): a logged image of a read or clicked notification
-- marks its (day, category) changed, and the fold recounts those from the notifications themselves
-- (through idx_notifications_category_created).  Readers recount the days changed since the last fold
-- from raw rows too, so every median is exact and current.  What the log does not show -- read_at or
-- clicked_at moved while the notification stays read / clicked -- is not seen until that day is
-- recounted (`venuepulse rollups rebuild`); the app never does that (it sets them once, with the flag).

LOCK TABLE notifications IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE rollup_consumers DROP CONSTRAINT rollup_consumers_consumer_check;
ALTER TABLE rollup_consumers ADD CONSTRAINT rollup_consumers_consumer_check
  CHECK (consumer IN ('activity', 'pairs', 'venue_stats', 'delays'));

-- Minutes from p_created to p_at to the nearest 0.1 (halves away from zero), in tenths; NULL if p_at is.
CREATE FUNCTION vp_delay_tenths(p_created timestamptz, p_at timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT round(extract(epoch FROM p_at - p_created) / 6)::bigint
$$;

-- The bin of a delay in tenths of a minute, non-decreasing in it: 0 below zero, one bin per tenth
-- below 16 (1.6 minutes), then eight bins per doubling (2^e + j * 2^(e-3)), the last from 2^31.
CREATE FUNCTION vp_delay_bin(p_tenths bigint) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT width_bucket(p_tenths, '{0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,18,20,22,24,26,28,30,32,36,40,44,48,52,56,60,64,72,80,88,96,
    104,112,120,128,144,160,176,192,208,224,240,256,288,320,352,384,416,448,480,512,576,640,704,768,832,896,
    960,1024,1152,1280,1408,1536,1664,1792,1920,2048,2304,2560,2816,3072,3328,3584,3840,4096,4608,5120,5632,
    6144,6656,7168,7680,8192,9216,10240,11264,12288,13312,14336,15360,16384,18432,20480,22528,24576,26624,
    28672,30720,32768,36864,40960,45056,49152,53248,57344,61440,65536,73728,81920,90112,98304,106496,114688,
    122880,131072,147456,163840,180224,196608,212992,229376,245760,262144,294912,327680,360448,393216,425984,
    458752,491520,524288,589824,655360,720896,786432,851968,917504,983040,1048576,1179648,1310720,1441792,
    1572864,1703936,1835008,1966080,2097152,2359296,2621440,2883584,3145728,3407872,3670016,3932160,4194304,
    4718592,5242880,5767168,6291456,6815744,7340032,7864320,8388608,9437184,10485760,11534336,12582912,
    13631488,14680064,15728640,16777216,18874368,20971520,23068672,25165824,27262976,29360128,31457280,
    33554432,37748736,41943040,46137344,50331648,54525952,58720256,62914560,67108864,75497472,83886080,
    92274688,100663296,109051904,117440512,125829120,134217728,150994944,167772160,184549376,201326592,
    218103808,234881024,251658240,268435456,301989888,335544320,369098752,402653184,436207616,469762048,
    503316480,536870912,603979776,671088640,738197504,805306368,872415232,939524096,1006632960,1073741824,
    1207959552,1342177280,1476395008,1610612736,1744830464,1879048192,2013265920,2147483648}'::bigint[])
$$;

-- The start of the aligned span of 2^p_level UTC days (counted from 1970-01-01) holding day p_day.
CREATE FUNCTION vp_day_node(p_day timestamptz, p_level integer) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT to_timestamp((floor(extract(epoch FROM p_day) / (86400::bigint << p_level)) * (86400::bigint << p_level))::float8)
$$;

-- The whole UTC days [p_lo, p_hi) as the fewest aligned spans of 2^level days (level <= 7).  ROWS: the
-- planner's default guess for a set-returning function (1,000) made the pages' plans cost enough to be
-- JIT-compiled where JIT is on (PostgreSQL 15 on Debian): 1.5 s of compiling for a 5 ms query.
CREATE FUNCTION vp_day_nodes(p_lo timestamptz, p_hi timestamptz) RETURNS TABLE (level integer, bucket timestamptz)
LANGUAGE plpgsql IMMUTABLE ROWS 8 AS $$
DECLARE
  i bigint := floor(extract(epoch FROM p_lo) / 86400);
  e bigint := floor(extract(epoch FROM p_hi) / 86400);
  l integer;
BEGIN
  WHILE i < e LOOP
    l := 7;
    WHILE l > 0 AND (mod(i, 1::bigint << l) <> 0 OR i + (1::bigint << l) > e) LOOP
      l := l - 1;
    END LOOP;
    level := l;
    bucket := to_timestamp((i * 86400)::float8);
    RETURN NEXT;
    i := i + (1::bigint << l);
  END LOOP;
END;
$$;

CREATE TABLE rollup_notification_delay_bins (
  level    smallint NOT NULL,
  bucket   timestamptz NOT NULL,   -- start of the span of 2^level UTC days (of the notifications' creation)
  category text NOT NULL,
  kind     "char" NOT NULL CHECK (kind IN ('r', 'c')),
  bin      integer NOT NULL,
  n        bigint NOT NULL,
  PRIMARY KEY (level, bucket, category, kind, bin) INCLUDE (n)   -- (read index-only)
);

CREATE TABLE rollup_notification_delays (
  category text NOT NULL,
  kind     "char" NOT NULL CHECK (kind IN ('r', 'c')),
  bin      integer NOT NULL,
  level    smallint NOT NULL,
  bucket   timestamptz NOT NULL,
  tenths   bigint NOT NULL,
  n        bigint NOT NULL,
  PRIMARY KEY (category, kind, bin, level, bucket, tenths) INCLUDE (n)
);
CREATE INDEX idx_rollup_notification_delays_day ON rollup_notification_delays (level, bucket, category);

-- A notification's delays: ('r', minutes to read) and ('c', minutes to click), in tenths, where set.
CREATE FUNCTION vp_notification_delays(p_created timestamptz, p_read_at timestamptz, p_clicked_at timestamptz)
RETURNS TABLE (kind "char", tenths bigint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 2 AS $$
  SELECT 'r'::"char", vp_delay_tenths(p_created, p_read_at) WHERE p_read_at IS NOT NULL
  UNION ALL
  SELECT 'c'::"char", vp_delay_tenths(p_created, p_clicked_at) WHERE p_clicked_at IS NOT NULL
$$;

-- Recounts the given (UTC day, category) pairs from the notifications: each day's counts (level 0) are
-- replaced by the recount, and the spans holding it (levels 1-7) move by the difference, so every span
-- stays the sum of its days.
CREATE FUNCTION vp_recount_delays(p_days timestamptz[], p_categories text[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_n bigint;
BEGIN
  PERFORM vp_drop_temp('vp_delay_delta');
  CREATE TEMP TABLE vp_delay_delta ON COMMIT DROP AS
  WITH k AS (SELECT DISTINCT * FROM unnest(p_days, p_categories) AS k(bucket, category)),
  x AS (
    SELECT d.bucket, d.category, d.kind, d.bin, d.tenths, -d.n AS n
    FROM k JOIN rollup_notification_delays d ON d.level = 0 AND d.bucket = k.bucket AND d.category = k.category
    UNION ALL
    SELECT k.bucket, k.category, q.kind, vp_delay_bin(q.tenths), q.tenths, 1
    FROM k
    CROSS JOIN LATERAL (
      SELECT d.kind, d.tenths
      FROM notifications n
      CROSS JOIN LATERAL vp_notification_delays(n.created_at, n.read_at, n.clicked_at) d
      WHERE n.category = k.category AND n.created_at >= k.bucket AND n.created_at < k.bucket + interval '24 hours'
      OFFSET 0) q
  )
  SELECT bucket, category, kind, bin, tenths, sum(n) AS n FROM x GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  IF v_n = 0 THEN
    RETURN 0;
  END IF;

  PERFORM vp_drop_temp('vp_delay_spans');
  CREATE TEMP TABLE vp_delay_spans ON COMMIT DROP AS
  SELECT l.level::smallint AS level, vp_day_node(d.bucket, l.level) AS bucket, d.category, d.kind, d.bin, d.tenths,
         sum(d.n) AS n
  FROM vp_delay_delta d CROSS JOIN generate_series(0, 7) AS l(level)
  GROUP BY 1, 2, 3, 4, 5, 6;

  INSERT INTO rollup_notification_delays AS r (category, kind, bin, level, bucket, tenths, n)
  SELECT category, kind, bin, level, bucket, tenths, n FROM vp_delay_spans WHERE n <> 0
  ON CONFLICT (category, kind, bin, level, bucket, tenths) DO UPDATE SET n = r.n + EXCLUDED.n;
  DELETE FROM rollup_notification_delays r USING vp_delay_spans s
  WHERE r.category = s.category AND r.kind = s.kind AND r.bin = s.bin AND r.level = s.level AND r.bucket = s.bucket
    AND r.tenths = s.tenths AND r.n = 0;

  INSERT INTO rollup_notification_delay_bins AS r (level, bucket, category, kind, bin, n)
  SELECT level, bucket, category, kind, bin, sum(n) FROM vp_delay_spans GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0
  ON CONFLICT (level, bucket, category, kind, bin) DO UPDATE SET n = r.n + EXCLUDED.n;
  DELETE FROM rollup_notification_delay_bins r
  USING (SELECT DISTINCT level, bucket, category, kind, bin FROM vp_delay_spans) s
  WHERE r.level = s.level AND r.bucket = s.bucket AND r.category = s.category AND r.kind = s.kind AND r.bin = s.bin
    AND r.n = 0;
  RETURN v_n;
END;
$$;

-- Recounts every (day, category) of [p_from, p_to) that has notifications or counts (a rebuild; the
-- migration's fill).
CREATE FUNCTION vp_rebuild_delays(p_from timestamptz, p_to timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_days timestamptz[];
  v_cats text[];
BEGIN
  SELECT array_agg(x.bucket), array_agg(x.category) INTO v_days, v_cats
  FROM (SELECT date_trunc('day', created_at, 'UTC') AS bucket, category::text AS category FROM notifications
        WHERE created_at >= date_trunc('day', p_from, 'UTC') AND created_at < p_to
          AND (read_at IS NOT NULL OR clicked_at IS NOT NULL)
        UNION
        SELECT bucket, category FROM rollup_notification_delay_bins
        WHERE level = 0 AND bucket >= date_trunc('day', p_from, 'UTC') AND bucket < p_to) x;
  RETURN coalesce(vp_recount_delays(v_days, v_cats), 0);
END;
$$;

-- The delays consumer's fold (exactly once as in 0007: its lock, its previous snapshot, a new one): the
-- (day, category) pairs where a read or clicked notification was logged (added, removed or changed) are
-- recounted.  A recount may see changes committed after the new snapshot: they are still in the log,
-- so readers recount that day themselves and the next fold recounts it again.
CREATE FUNCTION vp_fold_delays(OUT changes bigint, OUT days bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_prev    pg_snapshot;
  v_snap    pg_snapshot;
  v_started timestamptz := clock_timestamp();
  v_days    timestamptz[];
  v_cats    text[];
BEGIN
  PERFORM pg_advisory_xact_lock(vp_rollup_lock_key('delays'));
  SELECT snap INTO v_prev FROM rollup_consumers WHERE consumer = 'delays' FOR UPDATE;
  v_snap := vp_snapshot_with_own(pg_current_snapshot());
  SELECT count(*) INTO changes FROM rollup_log
  WHERE src = 'n' AND ch = '' AND pg_visible_in_snapshot(xid, v_snap) AND NOT pg_visible_in_snapshot(xid, v_prev);
  SELECT array_agg(x.bucket), array_agg(x.category) INTO v_days, v_cats
  FROM (SELECT DISTINCT date_trunc('day', t1, 'UTC') AS bucket, k AS category FROM rollup_log
        WHERE src = 'n' AND ch = '' AND bits & 12 <> 0
          AND pg_visible_in_snapshot(xid, v_snap) AND NOT pg_visible_in_snapshot(xid, v_prev)) x;
  days := coalesce(cardinality(v_days), 0);
  IF days > 0 THEN
    PERFORM vp_recount_delays(v_days, v_cats);
  END IF;
  UPDATE rollup_consumers SET snap = v_snap, as_of = now(), folded_at = clock_timestamp(), last_changes = changes,
                              last_ms = extract(epoch FROM clock_timestamp() - v_started) * 1000
  WHERE consumer = 'delays';
  PERFORM vp_rollup_log_gc();
END;
$$;

GRANT SELECT ON rollup_notification_delay_bins, rollup_notification_delays TO venuepulse_reader;

-- ---------------------------------------------------------------------------------------------------
-- Engagement's venue distribution per venue category ('' = all): count, zero scores, min, max, total and
-- the percentiles (percentile_cont) of venue_stats' engagement scores, kept from venue_stats_scores by a
-- statement trigger on it (a rollup table, not a source table): each statement that changes some
-- categories' scores recomputes those categories' rows, in the same transaction, so these equal
-- venue_stats_scores (and venue_stats) at every commit, and the page reads a dozen rows instead of every
-- distinct score (3,753 at medium).
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE venue_stats_score_summary (
  category    text PRIMARY KEY,
  venues      bigint NOT NULL,
  zero_venues bigint NOT NULL,
  min_score   numeric,
  max_score   numeric,
  total       numeric,
  p50         double precision,
  p90         double precision,
  p99         double precision
);

CREATE FUNCTION vp_venue_stats_summary_refresh(p_categories text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM venue_stats_score_summary WHERE category = ANY (p_categories);
  INSERT INTO venue_stats_score_summary (category, venues, zero_venues, min_score, max_score, total, p50, p90, p99)
  WITH h AS (
    SELECT category, score, venues, sum(venues) OVER (PARTITION BY category ORDER BY score)::bigint AS cum
    FROM venue_stats_scores WHERE category = ANY (p_categories) AND venues <> 0
  ),
  c AS (
    SELECT category, sum(venues)::bigint AS n, min(score) AS mn, max(score) AS mx, sum(score * venues) AS total,
           coalesce(sum(venues) FILTER (WHERE score = 0), 0)::bigint AS zero
    FROM h GROUP BY category
  ),
  k AS (
    SELECT c.category, q.q, q.q * (c.n - 1) AS pos, floor(q.q * (c.n - 1))::bigint AS klo,
           ceil(q.q * (c.n - 1))::bigint AS khi
    FROM c CROSS JOIN (VALUES (0.5), (0.9), (0.99)) AS q(q)
  ),
  q AS (
    SELECT k.category, k.q, k.pos, min(h.score) FILTER (WHERE h.cum > k.klo) AS lo,
           min(h.score) FILTER (WHERE h.cum > k.khi) AS hi
    FROM k JOIN h ON h.category = k.category
    GROUP BY k.category, k.q, k.pos
  ),
  v AS (SELECT q.category, q.q, (q.lo + (q.hi - q.lo) * (q.pos - floor(q.pos)))::float8 AS v FROM q)
  SELECT c.category, c.n, c.zero, c.mn, c.mx, c.total,
         (SELECT v.v FROM v WHERE v.category = c.category AND v.q = 0.5),
         (SELECT v.v FROM v WHERE v.category = c.category AND v.q = 0.9),
         (SELECT v.v FROM v WHERE v.category = c.category AND v.q = 0.99)
  FROM c;
END;
$$;

CREATE FUNCTION vp_venue_stats_scores_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM vp_venue_stats_summary_refresh(ARRAY(SELECT DISTINCT category FROM new_rows));
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM vp_venue_stats_summary_refresh(ARRAY(SELECT DISTINCT category FROM old_rows));
  ELSE
    PERFORM vp_venue_stats_summary_refresh(ARRAY(SELECT category FROM new_rows UNION SELECT category FROM old_rows));
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER vp_venue_stats_scores_ins AFTER INSERT ON venue_stats_scores REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_venue_stats_scores_changed();
CREATE TRIGGER vp_venue_stats_scores_upd AFTER UPDATE ON venue_stats_scores
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_venue_stats_scores_changed();
CREATE TRIGGER vp_venue_stats_scores_del AFTER DELETE ON venue_stats_scores REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_venue_stats_scores_changed();

GRANT SELECT ON venue_stats_score_summary TO venuepulse_reader, venuepulse_owner;
ALTER TABLE venue_stats_score_summary ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_all_venues ON venue_stats_score_summary USING ((SELECT NOT vp_is_scoped_role()));
SELECT vp_venue_stats_summary_refresh(ARRAY(SELECT DISTINCT category FROM venue_stats_scores));

-- Filled from the notifications that exist (writers to them are locked out until this commits).
INSERT INTO rollup_consumers (consumer, snap, as_of, folded_at, last_full_at)
VALUES ('delays', pg_current_snapshot(), now(), now(), now());
SELECT vp_rebuild_delays('-infinity', 'infinity');
