-- The review's VenueService / BatchService calls (see queries/services.py).

-- Featured venues, busiest first (the review's getFeaturedVenues, cached 10 minutes).
-- name: venues.featured --
-- cache: 600 venues venues:featured
SELECT v.id, v.name, v.category, v.city, v.address, v.lat, v.lng, v.is_featured, v.created_at,
       v.active_check_in_count, v.total_check_in_count, v.last_check_in_at
FROM venues v
WHERE v.is_featured
ORDER BY v.total_check_in_count DESC, v.name, v.id
LIMIT %(limit)s::integer

-- Venues with details for one viewer, in ONE statement whatever the number of venues: the venue, its
-- venue_stats row, its top 3 reviews by helpful_count (per venue, via LATERAL - the review's
-- .limit(3) took 3 reviews across all venues), and the viewer's venue_interactions row.  One row per
-- (venue, top review); a venue without reviews gives one row with the review columns NULL.
-- name: venues.with_details --
-- cache: 60 venue:{venue_ids} user:{viewer_id}
SELECT ids.ord,
       v.id, v.name, v.category, v.city, v.address, v.lat, v.lng, v.is_featured, v.created_at,
       v.active_check_in_count, v.total_check_in_count, v.last_check_in_at,
       s.venue_id IS NOT NULL AS s_present,
       s.total_unique_visitors AS s_total_unique_visitors, s.total_check_ins AS s_total_check_ins,
       s.check_ins_last_7_days AS s_check_ins_last_7_days, s.active_check_ins AS s_active_check_ins,
       s.review_count AS s_review_count, s.avg_rating AS s_avg_rating,
       s.verified_review_count AS s_verified_review_count, s.favorite_count AS s_favorite_count,
       s.collection_count AS s_collection_count, s.flash_offer_count AS s_flash_offer_count,
       s.flash_offer_claim_count AS s_flash_offer_claim_count, s.engagement_score AS s_engagement_score,
       s.last_check_in_at AS s_last_check_in_at, s.last_review_at AS s_last_review_at,
       s.refreshed_at AS s_refreshed_at,
       r.rank AS r_rank, r.id AS r_id, r.user_id AS r_user_id, r.username AS r_username, r.rating AS r_rating,
       r.body AS r_body, r.is_verified AS r_is_verified, r.helpful_count AS r_helpful_count,
       r.created_at AS r_created_at,
       i.id AS i_id, i.check_in_count AS i_check_in_count, i.last_check_in_at AS i_last_check_in_at,
       i.review_count AS i_review_count, i.last_review_at AS i_last_review_at,
       i.current_rating AS i_current_rating, i.is_favorited AS i_is_favorited,
       i.favorited_at AS i_favorited_at, i.collection_count AS i_collection_count,
       i.flash_offer_claim_count AS i_flash_offer_claim_count, i.last_claim_at AS i_last_claim_at,
       i.engagement_score AS i_engagement_score, i.first_interaction_at AS i_first_interaction_at,
       i.last_interaction_at AS i_last_interaction_at
FROM unnest(%(venue_ids)s::uuid[]) WITH ORDINALITY AS ids (venue_id, ord)
JOIN venues v ON v.id = ids.venue_id
LEFT JOIN venue_stats_visible s ON s.venue_id = v.id
LEFT JOIN venue_interactions i ON i.venue_id = v.id AND i.user_id = %(viewer_id)s::uuid
LEFT JOIN LATERAL (
  SELECT row_number() OVER (ORDER BY rv.helpful_count DESC, rv.created_at DESC, rv.id) AS rank,
         rv.id, rv.user_id, vp_user_label(rv.user_id, 'reviews') AS username, rv.rating, rv.body,
         rv.is_verified, rv.helpful_count, rv.created_at
  FROM reviews rv
  WHERE rv.venue_id = v.id
  ORDER BY rv.helpful_count DESC, rv.created_at DESC, rv.id
  LIMIT 3
) r ON true
ORDER BY ids.ord, r.rank
