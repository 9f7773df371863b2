-- Live traffic (jobs/simulate.py): the app's writes through the database contract, and the look-ups
-- that pick who does what.

-- name: simulate.users --
-- kind: maintenance
SELECT id FROM users

-- name: simulate.venues --
-- kind: maintenance
SELECT v.id, v.total_check_in_count FROM venues v

-- name: simulate.check_in --
-- kind: write
SELECT check_in(%(user_id)s, %(venue_id)s) AS check_in_id

-- name: simulate.active_check_in --
-- A random active check-in (few rows: the partial index keeps this cheap).
SELECT id FROM check_ins WHERE is_active ORDER BY random() LIMIT 1

-- name: simulate.check_out --
-- kind: write
SELECT check_out(%(check_in_id)s)

-- name: simulate.review_candidate --
-- Someone who checked in during the last day and has not reviewed that venue yet.
SELECT c.user_id, c.venue_id
FROM check_ins c
WHERE c.checked_in_at > now() - interval '1 day'
  AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.user_id = c.user_id AND r.venue_id = c.venue_id)
ORDER BY random()
LIMIT 1

-- name: simulate.add_review --
-- kind: write
-- The rating leans on the venue's current average (venues differ), with noise around it.
INSERT INTO reviews (user_id, venue_id, rating, body, is_verified)
SELECT %(user_id)s, %(venue_id)s,
       greatest(1, least(5, round(coalesce((SELECT avg(rating) FROM reviews WHERE venue_id = %(venue_id)s), 3.9)
                                  + %(noise)s)))::smallint,
       %(body)s, true
ON CONFLICT ON CONSTRAINT reviews_one_per_user_venue DO NOTHING
RETURNING id

-- name: simulate.add_favorite --
-- kind: write
INSERT INTO favorites (user_id, venue_id) VALUES (%(user_id)s, %(venue_id)s)
ON CONFLICT (user_id, venue_id) DO NOTHING
RETURNING venue_id

-- name: simulate.live_offers --
-- Offers running now, with a member of the venue's staff to redeem claims.
SELECT o.id, o.venue_id,
       (SELECT vo.user_id FROM venue_owners vo WHERE vo.venue_id = o.venue_id
        ORDER BY vo.role = 'owner' DESC, vo.created_at LIMIT 1) AS staff_id
FROM flash_offers o
WHERE o.start_time <= now() AND o.end_time > now()

-- name: simulate.offer_audience --
-- Someone the offer was pushed to (NULL when it was pushed to no one yet).
SELECT user_id FROM notifications
WHERE category = 'flash_offer' AND reference_type = 'flash_offer' AND reference_id = %(offer_id)s
ORDER BY random()
LIMIT 1

-- name: simulate.offer_event --
-- kind: write
SELECT record_offer_event(%(offer_id)s, %(user_id)s, %(kind)s)

-- name: simulate.claim --
-- kind: write
SELECT id, token FROM claim_flash_offer(%(offer_id)s, %(user_id)s)

-- name: simulate.redeemable_claim --
-- An active claim, with the venue's staff member who will redeem it.
SELECT c.offer_id, c.token,
       (SELECT vo.user_id FROM venue_owners vo JOIN flash_offers o ON o.venue_id = vo.venue_id
        WHERE o.id = c.offer_id ORDER BY vo.role = 'owner' DESC, vo.created_at LIMIT 1) AS staff_id
FROM flash_offer_claims c
WHERE c.status = 'active' AND c.expires_at > now()
ORDER BY random()
LIMIT 1

-- name: simulate.redeemed_claim --
-- A claim already redeemed (someone shows the same code twice).
SELECT c.offer_id, c.token, c.redeemed_by_user_id AS staff_id
FROM flash_offer_claims c
WHERE c.status = 'redeemed' AND c.redeemed_at > now() - interval '1 day'
ORDER BY c.redeemed_at DESC
LIMIT 1

-- name: simulate.redeem --
-- kind: write
SELECT id FROM redeem_flash_offer_claim(%(offer_id)s, %(token)s, %(staff_id)s)

-- name: simulate.new_offer --
-- kind: write
-- A venue starts a new flash offer now (so there is always something running to view and claim).
INSERT INTO flash_offers (venue_id, title, description, max_claims, start_time, end_time, radius_miles)
VALUES (%(venue_id)s, %(title)s, %(description)s, %(max_claims)s, now(), now() + %(duration)s::interval,
        %(radius)s)
RETURNING id

-- name: simulate.read_notification --
-- kind: write
UPDATE notifications SET read = true, read_at = now()
WHERE id = (SELECT id FROM notifications WHERE user_id = %(user_id)s AND NOT read
            ORDER BY created_at DESC LIMIT 1)
RETURNING id

-- name: simulate.click_notification --
-- kind: write
UPDATE notifications SET clicked = true, clicked_at = now(), read = true, read_at = coalesce(read_at, now())
WHERE id = (SELECT id FROM notifications WHERE user_id = %(user_id)s AND NOT clicked
            ORDER BY created_at DESC LIMIT 1)
RETURNING id
