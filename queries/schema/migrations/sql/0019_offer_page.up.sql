-- The Offers page's bounded lists and its "when it works" rollup (issue 13).
-- Venues in the filter's order (name, city, id): the first ones with an offer are found by an EXISTS
-- probe into idx_flash_offers_venue_start, so the cost follows the list shown, not the venue count.
CREATE INDEX idx_venues_name ON venues (name, city, id);
-- Offers whose window contains an instant: those that started before a period and end inside or after
-- it (the list's and the "when it works" rollup's straddlers), found without reading older offers.
CREATE INDEX idx_flash_offers_during ON flash_offers USING gist (tstzrange(start_time, end_time));

-- Claims and redemptions by the venue's local ISO weekday and hour: per offer (with the UTC day the
-- offer started when it was folded), and summed per start day for the page's unrestricted reader.  Kept
-- by vp_recompute_offer_funnels (the activity fold's per-offer recount): an offer whose claims, window,
-- venue or venue's time zone changed is recounted from raw rows, its old counts subtracted first.
CREATE TABLE rollup_offer_when (
  offer_id uuid NOT NULL,
  venue_id uuid NOT NULL,
  day      timestamptz NOT NULL,
  kind     text NOT NULL CHECK (kind IN ('claims', 'redemptions')),
  weekday  smallint NOT NULL,
  hour     smallint NOT NULL,
  n        bigint NOT NULL,
  PRIMARY KEY (offer_id, kind, weekday, hour)
);
CREATE TABLE rollup_offer_when_days (
  day     timestamptz NOT NULL,
  kind    text NOT NULL CHECK (kind IN ('claims', 'redemptions')),
  weekday smallint NOT NULL,
  hour    smallint NOT NULL,
  n       bigint NOT NULL,
  PRIMARY KEY (day, kind, weekday, hour)
);
GRANT SELECT ON rollup_offer_when, rollup_offer_when_days TO venuepulse_reader, venuepulse_owner;
ALTER TABLE rollup_offer_when ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON rollup_offer_when
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));
ALTER TABLE rollup_offer_when_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_all_venues ON rollup_offer_when_days USING ((SELECT NOT vp_is_scoped_role()));

-- A venue's time zone moves its offers' claims to other local hours: log its offers as changed (a -1/+1
-- pair of the same image, so nothing that sums offers moves) for the fold and the page's live tail.
CREATE FUNCTION vp_capture_venue_timezone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() OR NOT vp_capturing() THEN
    RETURN NULL;
  END IF;
  INSERT INTO rollup_log (src, sign, venue_id, offer_id, t1, t2)
  SELECT 'o', s.sign, o.venue_id, o.id, o.start_time, o.end_time
  FROM flash_offers o CROSS JOIN (VALUES (-1), (1)) AS s(sign)
  WHERE o.venue_id = NEW.id;
  RETURN NULL;
END;
$$;
CREATE TRIGGER vp_capture_venue_timezone AFTER UPDATE OF timezone ON venues FOR EACH ROW
  WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone) EXECUTE FUNCTION vp_capture_venue_timezone();

CREATE OR REPLACE FUNCTION vp_recompute_offer_funnels(p_offers uuid[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_n bigint;
BEGIN
  IF p_offers IS NOT NULL AND cardinality(p_offers) = 0 THEN
    RETURN 0;
  END IF;
  PERFORM vp_drop_temp('vp_funnel_users');
  IF p_offers IS NULL THEN
    DELETE FROM rollup_offer_funnel;
    DELETE FROM rollup_offer_days;
    DELETE FROM rollup_offer_when;
    DELETE FROM rollup_offer_when_days;
    p_offers := ARRAY(SELECT id FROM flash_offers);
    CREATE TEMP TABLE vp_funnel_users ON COMMIT DROP AS
    SELECT * FROM offer_funnel_users('-infinity', 'infinity', NULL, NULL);
  ELSE
    DELETE FROM rollup_offer_funnel WHERE offer_id = ANY (p_offers);
    DELETE FROM rollup_offer_days WHERE offer_id = ANY (p_offers);
    -- take the offers' folded claims out of their start days before recounting them
    UPDATE rollup_offer_when_days d SET n = d.n - x.n
    FROM (SELECT w.day, w.kind, w.weekday, w.hour, sum(w.n) AS n FROM rollup_offer_when w
          WHERE w.offer_id = ANY (p_offers) GROUP BY 1, 2, 3, 4) x
    WHERE d.day = x.day AND d.kind = x.kind AND d.weekday = x.weekday AND d.hour = x.hour;
    DELETE FROM rollup_offer_when WHERE offer_id = ANY (p_offers);
    CREATE TEMP TABLE vp_funnel_users ON COMMIT DROP AS
    SELECT f.* FROM unnest(p_offers) AS o(id)
    CROSS JOIN LATERAL offer_funnel_users('-infinity', 'infinity', NULL, o.id) f;
  END IF;
  INSERT INTO rollup_offer_funnel (offer_id, venue_id, viewed_users, clicked_users, claimed_users, redeemed_users,
                                   claim_seconds, redeem_seconds, claim_p50_s, claim_p90_s, redeem_p50_s,
                                   redeem_p90_s)
  SELECT o.id, o.venue_id, count(u.user_id), count(u.first_click), count(u.claimed_at), count(u.redeemed_at),
         coalesce(array_agg(extract(epoch FROM u.claimed_at - u.first_view)::float8 ORDER BY u.user_id)
                    FILTER (WHERE u.claimed_at IS NOT NULL), '{}'),
         coalesce(array_agg(extract(epoch FROM u.redeemed_at - u.claimed_at)::float8 ORDER BY u.user_id)
                    FILTER (WHERE u.redeemed_at IS NOT NULL), '{}'),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM u.claimed_at - u.first_view)),
         percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM u.claimed_at - u.first_view)),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM u.redeemed_at - u.claimed_at)),
         percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM u.redeemed_at - u.claimed_at))
  FROM flash_offers o
  LEFT JOIN vp_funnel_users u ON u.offer_id = o.id
  WHERE o.id = ANY (p_offers)
  GROUP BY o.id, o.venue_id;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  INSERT INTO rollup_offer_days (offer_id, bucket, venue_id, viewed_users, clicked_users, claimed_users, redeemed_users)
  SELECT u.offer_id, date_trunc('day', u.first_view, 'UTC'), o.venue_id,
         count(*), count(u.first_click), count(u.claimed_at), count(u.redeemed_at)
  FROM vp_funnel_users u
  JOIN flash_offers o ON o.id = u.offer_id
  GROUP BY 1, 2, 3;
  -- claims and redemptions by the venue's local weekday and hour (revision 0019), per offer and summed
  -- per UTC start day of the offer
  INSERT INTO rollup_offer_when (offer_id, venue_id, day, kind, weekday, hour, n)
  SELECT o.id, o.venue_id, date_trunc('day', o.start_time, 'UTC'), t.kind,
         extract(isodow FROM t.at AT TIME ZONE v.timezone)::smallint,
         extract(hour FROM t.at AT TIME ZONE v.timezone)::smallint, count(*)
  FROM flash_offers o
  JOIN venues v ON v.id = o.venue_id
  JOIN flash_offer_claims c ON c.offer_id = o.id
  CROSS JOIN LATERAL (VALUES ('claims', c.created_at), ('redemptions', c.redeemed_at)) AS t(kind, at)
  WHERE o.id = ANY (p_offers) AND t.at IS NOT NULL
  GROUP BY 1, 2, 3, 4, 5, 6;
  INSERT INTO rollup_offer_when_days AS d (day, kind, weekday, hour, n)
  SELECT w.day, w.kind, w.weekday, w.hour, sum(w.n) FROM rollup_offer_when w
  WHERE w.offer_id = ANY (p_offers) GROUP BY 1, 2, 3, 4
  ON CONFLICT (day, kind, weekday, hour) DO UPDATE SET n = d.n + EXCLUDED.n;
  RETURN v_n;
END;
$$;

SELECT vp_recompute_offer_funnels(NULL);
