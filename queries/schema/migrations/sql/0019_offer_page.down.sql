DROP TRIGGER IF EXISTS vp_capture_venue_timezone ON venues;
DROP FUNCTION IF EXISTS vp_capture_venue_timezone();
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
    p_offers := ARRAY(SELECT id FROM flash_offers);
    CREATE TEMP TABLE vp_funnel_users ON COMMIT DROP AS
    SELECT * FROM offer_funnel_users('-infinity', 'infinity', NULL, NULL);
  ELSE
    DELETE FROM rollup_offer_funnel WHERE offer_id = ANY (p_offers);
    DELETE FROM rollup_offer_days WHERE offer_id = ANY (p_offers);
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
  RETURN v_n;
END;
$$;
DROP TABLE IF EXISTS rollup_offer_when_days;
DROP TABLE IF EXISTS rollup_offer_when;
DROP INDEX IF EXISTS idx_flash_offers_during;
DROP INDEX IF EXISTS idx_venues_name;
