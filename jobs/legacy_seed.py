"""A realistic legacy app database to rehearse the upgrade on (``venuepulse seed --legacy``).

Creates the legacy baseline (upgrade revision L0) in an empty database and loads it with COPY: users in
two cities, venues with skewed popularity, check-ins with an evening rhythm (each user's latest one
still active when recent), reviews whose ratings vary by venue, favorites, collections, flash offers with
claims, views and clicks, offer pushes and social notifications, notification preferences, the activity
feed and push rate limits.  It also has what real legacy data has: ``claimed_count`` drifted from the
claims, a hand-kept offer ``status``, notifications read without a read time, half-set quiet hours,
unknown time zones and notification kinds, feed rows with visibilities the new schema does not know.

Deterministic: the same scale, seed and ``now`` give the same rows.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from venuepulse.errors import ConfigError, VenuePulseError
from venuepulse.queries.core.connect import connect


@dataclass(frozen=True)
class LegacyScale:
    name: str
    users: int
    venues: int
    days: int
    check_ins_per_user: float
    offers: int


SCALES = {
    "tiny": LegacyScale("tiny", users=120, venues=30, days=60, check_ins_per_user=12, offers=16),
    "small": LegacyScale("small", users=1500, venues=200, days=120, check_ins_per_user=16, offers=150),
}

CITIES = [("Lisbon", 38.7223, -9.1393, "Europe/Lisbon"), ("Austin", 30.2672, -97.7431, "America/Chicago")]
CATEGORIES = ["restaurant", "bar", "cafe", "nightclub", "museum", "park", "gym", "theater", "shop", "hotel", "other"]
TOKEN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class LegacyDatabaseNotEmpty(VenuePulseError):
    """The legacy generator only loads into an empty database."""


def get_scale(name: str) -> LegacyScale:
    try:
        return SCALES[name]
    except KeyError:
        raise ConfigError(f"unknown legacy scale {name!r}; choose one of {', '.join(SCALES)}") from None


class LegacyDataset:
    """The rows of every legacy table, in load order (``tables``: name -> (columns, rows))."""

    def __init__(self, scale: LegacyScale, seed: int = 42, now: datetime | None = None):
        self.scale = scale
        self.rng = random.Random(seed)
        self.now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
        self.start = self.now - timedelta(days=scale.days)
        self.tables: dict[str, tuple[list[str], list[tuple]]] = {}
        self._build()

    # -- helpers -----------------------------------------------------------------------------------------

    def _id(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _at(self, lo: datetime, hi: datetime) -> datetime:
        span = max((hi - lo).total_seconds(), 1.0)
        return lo + timedelta(seconds=self.rng.uniform(0, span))

    def _evening(self, day: datetime, tz_offset_h: int) -> datetime:
        """A local time of day with an evening peak (lunch and after-work bumps), as UTC."""
        hour = self.rng.choices([8, 10, 12, 13, 17, 18, 19, 20, 21, 22, 23],
                                weights=[2, 2, 6, 5, 5, 7, 10, 10, 8, 5, 2])[0]
        local = day.replace(hour=0) + timedelta(hours=hour, minutes=self.rng.randrange(60))
        return local - timedelta(hours=tz_offset_h)

    def _add(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        self.tables[table] = (columns, rows)

    # -- tables ------------------------------------------------------------------------------------------

    def _build(self) -> None:
        s, rng = self.scale, self.rng
        users = []
        self.user_city: dict[uuid.UUID, int] = {}
        for i in range(s.users):
            uid, city = self._id(), i % len(CITIES)
            _, lat, lng, tz = CITIES[city]
            home = (lat + rng.gauss(0, 0.03), lng + rng.gauss(0, 0.03)) if rng.random() < 0.9 else (None, None)
            last = (lat + rng.gauss(0, 0.02), lng + rng.gauss(0, 0.02)) if rng.random() < 0.6 else (None, None)
            created = self._at(self.start - timedelta(days=200), self.start)
            users.append((uid, f"user_{i:05d}", f"User {i}", f"user{i}@example.com", tz if rng.random() < 0.8 else "UTC",
                          home[0], home[1], last[0], last[1], self.now - timedelta(hours=rng.randrange(1, 72))
                          if last[0] is not None else None, created))
            self.user_city[uid] = city
        self._add("users", ["id", "username", "display_name", "email", "timezone", "home_lat", "home_lng",
                            "last_lat", "last_lng", "last_location_at", "created_at"], users)
        self.user_ids = [u[0] for u in users]
        self.user_created = {u[0]: u[10] for u in users}

        venues = []
        self.venue_city: dict[uuid.UUID, int] = {}
        self.venue_quality: dict[uuid.UUID, float] = {}
        for i in range(s.venues):
            vid, city = self._id(), i % len(CITIES)
            name, lat, lng, _ = CITIES[city]
            venues.append((vid, f"{rng.choice(['The', 'Old', 'Blue', 'Little', 'Golden'])} "
                                f"{rng.choice(['Fox', 'Anchor', 'Garden', 'Lantern', 'Harbor', 'Oak'])} {i}",
                           rng.choice(CATEGORIES), name, f"{rng.randrange(1, 300)} Main St",
                           lat + rng.gauss(0, 0.02), lng + rng.gauss(0, 0.02), rng.random() < 0.1,
                           self._at(self.start - timedelta(days=300), self.start - timedelta(days=1))))
            self.venue_city[vid] = city
            self.venue_quality[vid] = min(5.0, max(1.0, rng.gauss(3.8, 0.7)))
        self._add("venues", ["id", "name", "category", "city", "address", "lat", "lng", "is_featured", "created_at"],
                  venues)
        self.venue_ids = [v[0] for v in venues]
        # skewed popularity: a few venues get most visits
        self.venue_weight = {v: 1.0 / (rank + 1) ** 0.9 for rank, v in enumerate(self.venue_ids)}
        by_city: dict[int, list[uuid.UUID]] = {}
        for v in self.venue_ids:
            by_city.setdefault(self.venue_city[v], []).append(v)
        users_by_city: dict[int, list[uuid.UUID]] = {}
        for u in self.user_ids:
            users_by_city.setdefault(self.user_city[u], []).append(u)

        owners = [(v, rng.choice(users_by_city[self.venue_city[v]]), "owner",
                   self.start - timedelta(days=10)) for v in self.venue_ids]
        self._add("venue_owners", ["venue_id", "user_id", "role", "created_at"], owners)

        friendships, seen = [], set()
        for u in self.user_ids:
            for f in rng.sample(users_by_city[self.user_city[u]], k=min(4, len(users_by_city[self.user_city[u]]))):
                if f == u or (u, f) in seen:
                    continue
                accepted = rng.random() < 0.85
                seen.add((u, f))
                friendships.append((u, f, "accepted" if accepted else "pending", rng.random() < 0.2,
                                    self._at(self.start, self.now)))
                if accepted and (f, u) not in seen:
                    seen.add((f, u))
                    friendships.append((f, u, "accepted", False, friendships[-1][4]))
        self._add("friendships", ["user_id", "friend_id", "status", "is_close_friend", "created_at"], friendships)

        # check-ins: per user, times sorted; the latest is active if it began within the last 3 hours
        check_ins, self.visits = [], {}
        for u in self.user_ids:
            city = self.user_city[u]
            n = max(0, int(rng.expovariate(1 / s.check_ins_per_user)))
            pool = by_city[city]
            weights = [self.venue_weight[v] for v in pool]
            tz_off = 1 if city == 0 else -6
            times = sorted(self._evening(self.start + timedelta(days=rng.randrange(s.days)), tz_off) for _ in range(n))
            if rng.random() < 0.08:  # someone checked in a little while ago
                times.append(self.now - timedelta(minutes=rng.randrange(5, 150)))
            times = sorted(t for t in times if t < self.now)
            for k, t in enumerate(times):
                v = rng.choices(pool, weights=weights)[0]
                nxt = times[k + 1] if k + 1 < len(times) else None
                active = nxt is None and (self.now - t) < timedelta(hours=3)
                out = None if active else min(t + timedelta(minutes=rng.randrange(20, 240)), nxt or self.now)
                cid = self._id()
                check_ins.append((cid, u, v, t, out, active))
                self.visits.setdefault((u, v), []).append((cid, t))
        self._add("check_ins", ["id", "user_id", "venue_id", "checked_in_at", "checked_out_at", "is_active"],
                  check_ins)

        reviews, favorites = [], []
        self.review_of: dict[tuple, tuple] = {}
        for (u, v), visits in self.visits.items():
            first = visits[0][1]
            if rng.random() < 0.3:
                at = min(first + timedelta(hours=rng.randrange(1, 48)), self.now - timedelta(minutes=1))
                rating = int(round(min(5, max(1, rng.gauss(self.venue_quality[v], 0.8)))))
                rid = self._id()
                reviews.append((rid, u, v, rating, rng.choice(["Great spot.", "Fine.", "Would go again!",
                                                               "Too loud.", ""]),
                                rng.random() < 0.7, int(rng.expovariate(0.5)), at, at))
                self.review_of[(u, v)] = (rid, at)
            if rng.random() < 0.2:
                favorites.append((u, v, min(first + timedelta(hours=rng.randrange(1, 200)), self.now)))
        self._add("reviews", ["id", "user_id", "venue_id", "rating", "body", "is_verified", "helpful_count",
                              "created_at", "updated_at"], reviews)
        self._add("favorites", ["user_id", "venue_id", "created_at"], favorites)

        collections, collection_venues = [], []
        visited_by_user: dict[uuid.UUID, list[uuid.UUID]] = {}
        for (u, v) in self.visits:
            visited_by_user.setdefault(u, []).append(v)
        for u, visited in visited_by_user.items():
            if rng.random() < 0.3:
                for c in range(rng.randrange(1, 4)):
                    cid, at = self._id(), self._at(self.start, self.now - timedelta(days=1))
                    collections.append((cid, u, f"List {c + 1}", rng.choice(["public", "friends", "private"]), at))
                    for v in rng.sample(visited, k=min(len(visited), rng.randrange(1, 6))):
                        collection_venues.append((cid, v, self._at(at, self.now)))
        self._add("collections", ["id", "user_id", "name", "visibility", "created_at"], collections)
        self._add("collection_venues", ["collection_id", "venue_id", "added_at"], collection_venues)

        tokens = [(self._id(), u, f"tok_{uuid.UUID(int=rng.getrandbits(128)).hex}", rng.choice(["ios", "android", "web"]),
                   self.user_created[u], self.now - timedelta(days=rng.randrange(30)))
                  for u in self.user_ids if rng.random() < 0.7]
        self._add("device_tokens", ["id", "user_id", "token", "platform", "created_at", "last_seen_at"], tokens)

        self._offers(users_by_city)
        self._notifications_and_feed(friendships, check_ins, reviews, favorites, collections, collection_venues)

    def _offers(self, users_by_city: dict[int, list[uuid.UUID]]) -> None:
        rng, s = self.rng, self.scale
        offers, claims, events, self.pushes = [], [], [], []
        for i in range(s.offers):
            v = rng.choices(self.venue_ids, weights=[self.venue_weight[x] for x in self.venue_ids])[0]
            if i % 8 == 0:  # running now
                start = self.now - timedelta(hours=rng.randrange(1, 3))
            elif i % 8 == 1:  # scheduled
                start = self.now + timedelta(hours=rng.randrange(2, 48))
            else:
                start = self._at(self.start, self.now - timedelta(hours=8))
            end = start + timedelta(hours=rng.randrange(3, 7))
            max_claims = rng.randrange(8, 40)
            oid = self._id()
            city_users = users_by_city[self.venue_city[v]]
            pushed = rng.sample(city_users, k=min(len(city_users), rng.randrange(10, 60))) if start <= self.now else []
            self.pushes += [(oid, v, u, start + timedelta(seconds=rng.randrange(60))) for u in pushed]
            viewers = [u for u in pushed if rng.random() < 0.6]
            n_claims = 0
            used_tokens: set[str] = set()
            window_end = min(end, self.now)
            for u in viewers:
                seen_at = self._at(start, window_end) if window_end > start else start
                events.append((self._id(), oid, u, "view", seen_at))
                if rng.random() < 0.5:
                    events.append((self._id(), oid, u, "click", seen_at + timedelta(seconds=rng.randrange(5, 300))))
                    if rng.random() < 0.6 and n_claims < max_claims and seen_at < self.now:
                        token = "".join(rng.choice(TOKEN_ALPHABET) for _ in range(6))
                        while token in used_tokens:
                            token = "".join(rng.choice(TOKEN_ALPHABET) for _ in range(6))
                        used_tokens.add(token)
                        at = min(seen_at + timedelta(seconds=rng.randrange(300, 600)), self.now)
                        expires = min(at + timedelta(hours=2), end + timedelta(hours=1))
                        redeemed = rng.random() < 0.55 and expires < self.now + timedelta(hours=2)
                        red_at = min(at + timedelta(minutes=rng.randrange(5, 90)), self.now) if redeemed else None
                        status = "redeemed" if redeemed else ("expired" if expires <= self.now else "active")
                        claims.append((self._id(), oid, u, token, status, red_at, expires, at))
                        n_claims += 1
            drift = rng.choice([0, 0, 0, 1, -1, 2]) if n_claims else 0  # the legacy app's separate counter
            claimed_count = min(max(n_claims + drift, 0), max_claims)
            hand_status = "scheduled" if start > self.now else rng.choice(["active", "active", "expired"])
            offers.append((oid, v, f"Offer {i}", "Show this at the bar.", rng.choice([None, "1 drink", "10%"]),
                           max_claims, claimed_count, start, end, rng.choice([1.0, 1.5, 2.0, 3.0]),
                           rng.random() < 0.15, hand_status, start - timedelta(days=1), start - timedelta(days=1)))
        self._add("flash_offers", ["id", "venue_id", "title", "description", "value_cap", "max_claims", "claimed_count",
                                   "start_time", "end_time", "radius_miles", "target_favorites_only", "status",
                                   "created_at", "updated_at"], offers)
        self._add("flash_offer_claims", ["id", "offer_id", "user_id", "token", "status", "redeemed_at", "expires_at",
                                         "created_at"], claims)
        self._add("flash_offer_events", ["id", "offer_id", "user_id", "event_type", "created_at"], events)
        limits: dict[tuple, tuple] = {}
        for _, v, u, at in self.pushes:
            last, count = limits.get((u, v), (at, 0))
            limits[(u, v)] = (max(last, at), count + 1)
        self._add("flash_offer_rate_limits", ["user_id", "venue_id", "last_notified_at", "notified_today"],
                  [(u, v, last, min(count, 3)) for (u, v), (last, count) in sorted(limits.items())])

    def _notifications_and_feed(self, friendships, check_ins, reviews, favorites, collections, collection_venues):
        rng = self.rng
        prefs = []
        for u in self.user_ids:
            if rng.random() > 0.6:
                continue
            quiet = rng.random()
            start = time(22, 0) if quiet < 0.4 else None
            end = time(7, 0) if quiet < 0.35 else None  # some legacy rows have only a start
            tz = rng.choice([None, "Europe/Lisbon", "America/Chicago", "UTC", "Mars/Olympus_Mons"])
            dist = rng.choice([None, 1.5, 3.0, 10.0, -1.0])
            at = self._at(self.user_created[u], self.now)
            prefs.append((u, rng.random() < 0.85, rng.random() < 0.9, rng.random() < 0.1, start, end, tz, dist,
                          rng.random() < 0.9, rng.random() < 0.8, rng.random() < 0.8, rng.random() < 0.9,
                          rng.random() < 0.5, at, at))
        self._add("notification_preferences", [
            "user_id", "flash_offers_enabled", "push_enabled", "email_enabled", "quiet_hours_start", "quiet_hours_end",
            "timezone", "max_distance_miles", "friend_request_notifications", "venue_share_notifications",
            "collection_notifications", "review_response_notifications", "nearby_notifications", "created_at",
            "updated_at"], prefs)

        notes = []

        def note(user, kind, title, body, actor, ref, ref_type, at, data="{}"):
            read = rng.random() < 0.5
            read_at = (at + timedelta(minutes=rng.randrange(1, 600))) if read and rng.random() < 0.8 else None
            notes.append((self._id(), user, kind, title, body, actor, ref, ref_type, data, read,
                          min(read_at, self.now) if read_at else None, at))

        for oid, _v, u, at in self.pushes:
            note(u, "flash_offer", "A flash offer nearby", "Claim it before it runs out.", None, oid, "flash_offer", at)
        for (u, f, status, _close, at) in friendships:
            if status == "pending" or rng.random() < 0.3:
                note(f, "friend_request", "New friend request", "Someone wants to connect.", u, u, "user", at)
        for (_rid, u, v, _rating, _b, _ver, _h, at, _up) in reviews:
            if rng.random() < 0.1:
                note(u, "review_response", "The venue replied", "Thanks for the review!", None, v, "venue",
                     at + timedelta(hours=2))
        for u in rng.sample(self.user_ids, k=len(self.user_ids) // 10):
            note(u, "legacy_promo", "Try the new app", "Update for new features.", None, None, None,
                 self._at(self.start, self.now))
        self._add("social_notifications", ["id", "user_id", "type", "title", "body", "actor_id", "reference_id",
                                           "reference_type", "data", "is_read", "read_at", "created_at"], notes)

        feed = []
        vis = ["public", "friends", "friends", "close_friends", "private", "everyone"]
        for (cid, u, v, t, _out, _active) in check_ins:
            if rng.random() < 0.7:
                feed.append((self._id(), u, "check_in", v, "venue", v, cid, rng.choice(vis), "{}", t))
        for (rid, u, v, rating, _b, _ver, _h, at, _up) in reviews:
            if rng.random() < 0.8:
                feed.append((self._id(), u, "review", v, "venue", v, rid, rng.choice(vis),
                             f'{{"rating": {rating}}}', at))
        for (u, v, at) in favorites:
            if rng.random() < 0.5:
                feed.append((self._id(), u, "favorite", v, "venue", v, None, rng.choice(vis), "{}", at))
        owner_of = {c[0]: c[1] for c in collections}
        for (cid, v, at) in collection_venues:
            if rng.random() < 0.4:
                feed.append((self._id(), owner_of[cid], "collection_add", v, "collection", cid, None,
                             rng.choice(vis), "{}", at))
        for (u, f, status, _close, at) in friendships:
            if status == "accepted" and rng.random() < 0.2:
                feed.append((self._id(), u, "friend_added", None, "user", f, None, "friends", "{}", at))
        for u in rng.sample(self.user_ids, k=len(self.user_ids) // 8):
            v = rng.choice(self.venue_ids)
            feed.append((self._id(), u, "venue_share", v, "venue", v, None, "public", "{}", self._at(self.start, self.now)))
        self._add("activity_feed", ["id", "user_id", "activity_type", "venue_id", "target_type", "target_id",
                                    "reference_id", "visibility", "metadata", "created_at"], feed)


def seed_legacy(url: str, scale: str = "tiny", seed: int = 42, now: datetime | None = None,
                progress: Callable[[str, int], Any] | None = None) -> dict[str, int]:
    """Create the legacy baseline in the empty database at ``url`` and load it; returns rows per table."""
    from venuepulse.queries.schema import legacy

    data = LegacyDataset(get_scale(scale), seed=seed, now=now)
    with connect(url, autocommit=True) as conn:
        n = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace "
                         "WHERE s.nspname = 'public' AND c.relkind IN ('r', 'p')").fetchone()[0]
    if n:
        raise LegacyDatabaseNotEmpty(
            "the legacy generator loads only into an empty database (this one has tables); create a new one "
            "to rehearse the upgrade on."
        )
    legacy.upgrade(url, 0)
    counts: dict[str, int] = {}
    with connect(url) as conn:
        with conn.cursor() as cur:
            for table, (columns, rows) in data.tables.items():
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                counts[table] = len(rows)
                if progress is not None:
                    progress(table, len(rows))
        conn.commit()
    with connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return counts
