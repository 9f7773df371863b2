"""Deterministic demo-data generator: numpy arrays per table, formatted for COPY in chunks.

``Dataset(scale, seed, days, now)`` builds a whole, self-consistent app history in memory (as numpy arrays
of indices, times in microseconds since the epoch and 16-byte ids); ``Dataset.tables()`` returns the tables
in load order, each able to yield COPY text in chunks.  The same arguments always give the same rows.

Consistency rules kept here (the database checks some of them, the recount tests check the rest):
- a user's check-ins never overlap: each ends at its own duration or at the user's next check-in; only a
  user's latest check-in can still be active, and only when it started recently;
- users' last location is the venue of their latest check-in;
- reviews and favorites come after the user's first visit (a few reviews are unverified, without a visit);
- offer pushes go to the users ``flash_offer_recipients`` would return at push time (see ``recipients``);
  views -> clicks -> claims -> redemptions happen in order, with delays, inside the offer's window and
  before now; claims never exceed ``max_claims``; redemptions happen before the claim expires;
- event_stream rows are exactly what the triggers write for check-ins, reviews, favorites, claims and
  redemptions (same event_type, category, target, venue, source_id, visibility, analytics flag, time), and
  what ``record_offer_event`` writes for offer views and clicks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from .scales import Scale

US = 1_000_000
MIN = 60 * US
HOUR = 3600 * US
DAY = 86400 * US

# name, lat, lng, tz, weight
CITIES = [
    ("New York", 40.7128, -74.0060, "America/New_York", 0.16),
    ("London", 51.5074, -0.1278, "Europe/London", 0.13),
    ("San Francisco", 37.7749, -122.4194, "America/Los_Angeles", 0.10),
    ("Berlin", 52.5200, 13.4050, "Europe/Berlin", 0.08),
    ("Chicago", 41.8781, -87.6298, "America/Chicago", 0.08),
    ("Tokyo", 35.6762, 139.6503, "Asia/Tokyo", 0.08),
    ("Austin", 30.2672, -97.7431, "America/Chicago", 0.05),
    ("Sydney", -33.8688, 151.2093, "Australia/Sydney", 0.05),
    ("Lisbon", 38.7223, -9.1393, "Europe/Lisbon", 0.04),
    ("Toronto", 43.6532, -79.3832, "America/Toronto", 0.05),
    ("Paris", 48.8566, 2.3522, "Europe/Paris", 0.06),
    ("Seattle", 47.6062, -122.3321, "America/Los_Angeles", 0.04),
    ("Mexico City", 19.4326, -99.1332, "America/Mexico_City", 0.04),
    ("Madrid", 40.4168, -3.7038, "Europe/Madrid", 0.04),
    ("Singapore", 1.3521, 103.8198, "Asia/Singapore", 0.03),
    ("Sao Paulo", -23.5505, -46.6333, "America/Sao_Paulo", 0.03),
]
TIMEZONES = sorted({c[3] for c in CITIES} | {"UTC"})
_ZONES = [ZoneInfo(name) for name in TIMEZONES]  # held: ZoneInfo's own cache keeps only a few

CATEGORIES = ["restaurant", "bar", "cafe", "nightclub", "museum", "park", "gym", "theater", "shop", "hotel",
              "other"]
CATEGORY_WEIGHTS = np.array([0.27, 0.16, 0.16, 0.05, 0.04, 0.05, 0.07, 0.03, 0.09, 0.04, 0.04])
# median visit length in minutes
CATEGORY_STAY = np.array([75, 100, 40, 150, 100, 60, 65, 150, 30, 480, 60], dtype=float)


def _profile(*bumps: tuple[float, float, float]) -> np.ndarray:
    """24 hourly weights from (centre hour, width, height) bumps, wrapping around midnight."""
    h = np.arange(24) + 0.5
    w = np.full(24, 0.02)
    for centre, width, height in bumps:
        d = np.minimum(np.abs(h - centre), 24 - np.abs(h - centre))
        w += height * np.exp(-0.5 * (d / width) ** 2)
    return w / w.sum()


# local hour-of-day rhythm per category
HOUR_WEIGHTS = np.array([
    _profile((12.5, 1.3, 1.0), (19.5, 1.8, 1.3)),            # restaurant: lunch and dinner
    _profile((18.5, 2.0, 0.8), (22.0, 1.8, 1.2)),            # bar
    _profile((8.5, 1.5, 1.2), (15.0, 2.0, 0.6)),             # cafe
    _profile((23.5, 1.5, 1.2), (1.5, 1.2, 0.9)),             # nightclub
    _profile((13.0, 2.5, 1.0)),                              # museum
    _profile((11.0, 2.5, 0.8), (17.0, 2.0, 0.9)),            # park
    _profile((7.0, 1.2, 1.0), (18.5, 1.5, 1.2)),             # gym
    _profile((19.5, 1.0, 1.5), (14.5, 1.0, 0.4)),            # theater
    _profile((12.0, 2.0, 0.7), (17.0, 2.0, 1.0)),            # shop
    _profile((16.0, 3.0, 1.0), (22.0, 2.0, 0.5)),            # hotel
    _profile((13.0, 4.0, 1.0)),                              # other
])
# Monday..Sunday
WEEKDAY_FACTOR = np.array([0.85, 0.88, 0.95, 1.05, 1.35, 1.45, 1.10])

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Iris", "Jon", "Kenji", "Lara", "Mateo",
         "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe",
         "Leo", "Maya", "Noah", "Aisha", "Luca", "Sofia"]
LAST = ["Silva", "Smith", "Nguyen", "Garcia", "Kim", "Müller", "Rossi", "Tanaka", "Okafor", "Cohen", "Patel",
        "Dubois", "Novak", "Santos", "Larsen", "Haddad", "Walsh", "Moreau", "Ivanova", "Costa", "Reyes", "Berg"]
ADJ = ["Golden", "Copper", "Little", "Blue", "Hidden", "Old", "Urban", "Wild", "Silver", "Lucky", "Green", "Red",
       "Velvet", "Salty", "Sunny", "Midnight", "Corner", "Grand", "Secret", "Happy"]
NOUN = ["Fox", "Anchor", "Lantern", "Oak", "Harbor", "Owl", "Garden", "Bridge", "Mill", "Crown", "Pearl", "Bear",
        "Compass", "Kettle", "Feather", "Cellar", "Canal", "Orchard", "Tiger", "Lotus"]
KIND = {"restaurant": "Kitchen", "bar": "Bar", "cafe": "Café", "nightclub": "Club", "museum": "Museum",
        "park": "Park", "gym": "Fitness", "theater": "Theater", "shop": "Store", "hotel": "Hotel", "other": "House"}
STREETS = ["Main St", "Market St", "High St", "Park Ave", "River Rd", "Church St", "King St", "Elm St", "Oak Ave",
           "Station Rd", "Harbor Blvd", "Mill Ln"]
REVIEW_TEXT = {
    1: ["Would not come back.", "Very disappointing visit.", "Rude staff and a long wait."],
    2: ["Not great, not terrible.", "Overpriced for what you get.", "Slow service this time."],
    3: ["Decent place, nothing special.", "Okay for a quick stop.", "Mixed experience overall."],
    4: ["Really enjoyed it.", "Good vibe and friendly staff.", "Would recommend to friends."],
    5: ["Absolutely loved it!", "Best spot in town.", "Perfect evening, will be back."],
}
COLLECTION_NAMES = ["Date night", "Brunch spots", "After work", "Weekend plans", "With the kids", "Rainy days",
                    "Best coffee", "Late night", "Visitors from out of town", "Birthday ideas"]
OFFER_TITLES = ["Happy hour: 2 for 1", "20% off your bill", "Free dessert with a main", "Half-price cocktails",
                "Free coffee refill", "Buy one get one", "Early bird special", "Free entry before 10pm",
                "Student discount", "Chef's tasting at 30% off"]
VALUE_CAPS = ["$10", "$15", "$20", "$25", "€10", "£10", None]
QUIET_HOURS = [(22 * 60, 7 * 60), (23 * 60, 8 * 60), (21 * 60 + 30, 6 * 60 + 30), (0, 6 * 60), (13 * 60, 14 * 60)]
VIS = np.array(["public", "friends", "close_friends", "private"], dtype=object)
# feature -> probabilities over VIS
PRIVACY_MIX = {
    "profile": [0.8, 0.2, 0.0, 0.0],
    "check_ins": [0.25, 0.55, 0.1, 0.1],
    "favorites": [0.35, 0.5, 0.0, 0.15],
    "collections": [0.3, 0.55, 0.05, 0.1],
    "reviews": [0.85, 0.15, 0.0, 0.0],
    "activity_feed": [0.3, 0.6, 0.0, 0.1],
}
PRIVACY_DEFAULT = {"reviews": "public", "profile": "public"}  # anything else: friends (vp_visibility_for)
OTHER_NOTIFICATIONS = ["friend_request", "venue_share", "collection_activity", "review_response",
                       "check_in_nearby", "system"]
OTHER_WEIGHTS = np.array([0.15, 0.2, 0.1, 0.1, 0.3, 0.15])
FALLBACK_QUERY_NAMES = ["venues.featured", "venues.stats", "venues.detail", "venues.top_reviews",
                        "offers.active", "offers.funnel", "engagement.leaders", "notifications.delivery",
                        "checkins.recent", "users.feed"]

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_TOKEN_ALPHABET = np.frombuffer(b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789", dtype=np.uint8)


def uuid_strings(a: np.ndarray) -> list[str]:
    """(n, 16) uint8 -> canonical uuid strings."""
    n = len(a)
    if n == 0:
        return []
    hexd = np.empty((n, 32), dtype=np.uint8)
    hexd[:, 0::2] = _HEX[a >> 4]
    hexd[:, 1::2] = _HEX[a & 15]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, 0:8] = hexd[:, 0:8]
    out[:, 9:13] = hexd[:, 8:12]
    out[:, 14:18] = hexd[:, 12:16]
    out[:, 19:23] = hexd[:, 16:20]
    out[:, 24:36] = hexd[:, 20:32]
    return np.ascontiguousarray(out).view("S36").ravel().astype("U36").tolist()


def ts_strings(t: np.ndarray) -> list[str]:
    """Microseconds since the epoch -> ISO 8601 UTC text PostgreSQL reads as timestamptz."""
    return np.datetime_as_string(t.astype("datetime64[us]"), unit="us", timezone="UTC").tolist()


@dataclass
class Column:
    name: str
    kind: str  # uuid | ts | int | float | bool | text | const
    data: Any
    null: np.ndarray | None = None

    def format(self, lo: int, hi: int) -> list[str]:
        k, d = self.kind, self.data
        if k == "const":
            out = [d] * (hi - lo)
        elif k == "uuid":
            out = uuid_strings(d[lo:hi])
        elif k == "ts":
            out = ts_strings(d[lo:hi])
        elif k == "int":
            out = np.asarray(d[lo:hi], dtype=np.int64).astype(str).tolist()
        elif k == "float":
            out = np.round(np.asarray(d[lo:hi], dtype=float), 6).astype(str).tolist()
        elif k == "bool":
            out = np.where(np.asarray(d[lo:hi], dtype=bool), "t", "f").tolist()
        elif k == "text":
            out = list(d[lo:hi])
        else:
            raise ValueError(f"unknown column kind {k!r}")
        if self.null is not None:
            for i in np.flatnonzero(self.null[lo:hi]):
                out[i] = "\\N"
        return out


@dataclass
class Table:
    name: str
    rows: int
    columns: list[Column]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def chunks(self, size: int = 50_000) -> Iterator[tuple[int, str]]:
        """(rows, COPY text) pieces of at most ``size`` rows."""
        for lo in range(0, self.rows, size):
            hi = min(self.rows, lo + size)
            cols = [c.format(lo, hi) for c in self.columns]
            yield hi - lo, "\n".join(map("\t".join, zip(*cols, strict=True))) + "\n"


def _u(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random version-4 uuids as (n, 16) bytes."""
    a = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    a[:, 6] = (a[:, 6] & 0x0F) | 0x40
    a[:, 8] = (a[:, 8] & 0x3F) | 0x80
    return a


def _lognormal_us(rng: np.random.Generator, median_us: float, sigma: float, n: int) -> np.ndarray:
    return (median_us * rng.lognormal(0.0, sigma, n)).astype(np.int64)


def _topk_weighted(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    """k distinct indices drawn with probability proportional to weights (Gumbel top-k)."""
    k = min(k, len(weights))
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    keys = np.log(np.maximum(weights, 1e-300)) + rng.gumbel(size=len(weights))
    return np.sort(np.argpartition(-keys, k - 1)[:k])


def _haversine(lat1, lng1, lat2, lng2):
    """Miles; the same formula as vp_distance_miles."""
    r1, r2 = np.radians(lat1), np.radians(lat2)
    a = np.sin(np.radians(lat2 - lat1) / 2) ** 2 + np.cos(r1) * np.cos(r2) * np.sin(np.radians(lng2 - lng1) / 2) ** 2
    return 2 * 3958.8 * np.arcsin(np.sqrt(a))


def _json_vis(keys: list[str], values: list[np.ndarray], present: list[np.ndarray], i: int) -> str:
    parts = [f'"{k}": "{v[i]}"' for k, v, p in zip(keys, values, present, strict=True) if p[i]]
    return "{" + ", ".join(parts) + "}"


class Dataset:
    """One generated app history.  ``salt`` varies the ids and names (``--append`` uses it)."""

    STREAMS = ["users", "venues", "owners", "friends", "settings", "check_ins", "reviews", "favorites",
               "collections", "offers", "funnel", "notifications", "events", "qpl", "devices"]

    def __init__(self, scale: Scale, seed: int = 42, days: int | None = None, now: float | None = None,
                 salt: int = 0, query_names: list[str] | None = None):
        self.scale = scale
        self.seed = seed
        self.days = int(days or scale.days)
        if self.days < 1:
            raise ValueError("days must be at least 1")
        self.now = int((now if now is not None else datetime.now(UTC).timestamp()) * US)
        self.salt = salt
        self.prefix = f"a{salt}_" if salt else ""
        children = np.random.SeedSequence([int(seed), int(salt)]).spawn(len(self.STREAMS))
        self._rng = {name: np.random.default_rng(s) for name, s in zip(self.STREAMS, children, strict=True)}
        self.first_day = (self.now // DAY) * DAY - (self.days - 1) * DAY
        self.start = self.now - self.days * DAY
        internal = ("seed", "simulate", "session", "bench", "legacy")
        names = sorted(n for n in (query_names or []) if n.split(".", 1)[0] not in internal)
        self.query_names = names if len(names) >= 5 else list(FALLBACK_QUERY_NAMES)
        self._events: list[dict[str, Any]] = []
        self._users()
        self._venues()
        self._owners()
        self._friendships()
        self._settings()
        self._check_ins()
        self._reviews()
        self._favorites()
        self._collections()
        self._offers()
        self._other_notifications()
        self._query_log()

    # -- people ----------------------------------------------------------------------------------------

    def _users(self) -> None:
        rng, sc = self._rng["users"], self.scale
        n = sc.users
        self.cities = CITIES[: sc.cities]
        nc = len(self.cities)
        cw = np.array([c[4] for c in self.cities])
        self.city_weights = cw / cw.sum()
        self.city_lat = np.array([c[1] for c in self.cities])
        self.city_lng = np.array([c[2] for c in self.cities])
        now_dt = datetime.fromtimestamp(self.now / US, UTC)
        self.city_offset = np.array([int(ZoneInfo(c[3]).utcoffset(now_dt).total_seconds()) * US
                                     for c in self.cities], dtype=np.int64)
        city_tz = np.array([TIMEZONES.index(c[3]) for c in self.cities])
        self.u_city = rng.choice(nc, n, p=self.city_weights)
        tz = city_tz[self.u_city]
        traveller = rng.random(n) < 0.04
        tz[traveller] = rng.integers(0, len(TIMEZONES), int(traveller.sum()))
        self.u_tz = tz
        spread = sc.user_spread_miles / 69.0
        lat0 = self.city_lat[self.u_city]
        self.u_home_lat = np.clip(lat0 + rng.normal(0, spread, n), -89.9, 89.9)
        self.u_home_lng = self.city_lng[self.u_city] + rng.normal(0, spread, n) / np.cos(np.radians(lat0))
        self.u_no_home = rng.random(n) < 0.03
        self.u_activity = rng.lognormal(0.0, 1.0, n)
        self.u_id = _u(rng, n)
        first = rng.integers(0, len(FIRST), n)
        last = rng.integers(0, len(LAST), n)
        self.u_display = [f"{FIRST[a]} {LAST[b]}" for a, b in zip(first.tolist(), last.tolist(), strict=True)]
        self.u_username = [f"{self.prefix}{FIRST[a].lower()}{i}" for i, a in enumerate(first.tolist())]
        self.u_joined = self.start - rng.integers(DAY, 400 * DAY, n)
        # privacy: 70% have a row; a few rows leave 'favorites' out (vp_visibility_for's default applies)
        self.u_has_privacy = rng.random(n) < 0.7
        self.privacy: dict[str, np.ndarray] = {}
        self.privacy_present: dict[str, np.ndarray] = {}
        for feature, mix in PRIVACY_MIX.items():
            self.privacy[feature] = VIS[rng.choice(4, n, p=mix)]
            present = self.u_has_privacy.copy()
            if feature == "favorites":
                present &= rng.random(n) >= 0.1
            self.privacy_present[feature] = present
        self.u_allow_requests = rng.random(n) < 0.92
        self.u_show_status = rng.random(n) < 0.8

    def visibility(self, feature: str, users: np.ndarray) -> np.ndarray:
        """What vp_visibility_for(user, feature) returns for each of ``users``."""
        default = PRIVACY_DEFAULT.get(feature, "friends")
        vals = self.privacy.get(feature)
        if vals is None:
            return np.full(len(users), default, dtype=object)
        return np.where(self.privacy_present[feature][users], vals[users], default)

    def _venues(self) -> None:
        rng, n = self._rng["venues"], self.scale.venues
        nc = len(self.cities)
        city = rng.choice(nc, n, p=self.city_weights)
        city[:nc] = np.arange(nc)  # every city has venues
        self.v_city = city
        lat0 = self.city_lat[city]
        spread = self.scale.user_spread_miles * 0.6 / 69.0
        self.v_lat = np.clip(lat0 + rng.normal(0, spread, n), -89.9, 89.9)
        self.v_lng = self.city_lng[city] + rng.normal(0, spread, n) / np.cos(np.radians(lat0))
        self.v_cat = rng.choice(len(CATEGORIES), n, p=CATEGORY_WEIGHTS / CATEGORY_WEIGHTS.sum())
        self.v_pop = rng.pareto(1.1, n) + 0.05  # a few venues get most check-ins
        self.v_quality = np.clip(rng.normal(3.9, 0.55, n), 1.6, 4.9)  # mean rating varies by venue
        self.v_id = _u(rng, n)
        a, b = rng.integers(0, len(ADJ), n), rng.integers(0, len(NOUN), n)
        self.v_name = [f"{ADJ[x]} {NOUN[y]} {KIND[CATEGORIES[c]]}"
                       for x, y, c in zip(a.tolist(), b.tolist(), self.v_cat.tolist(), strict=True)]
        num, street = rng.integers(1, 400, n), rng.integers(0, len(STREETS), n)
        self.v_address = [f"{x} {STREETS[y]}" for x, y in zip(num.tolist(), street.tolist(), strict=True)]
        self.v_created = self.start - rng.integers(30 * DAY, 1000 * DAY, n)
        featured = _topk_weighted(rng, self.v_pop, max(1, n // 50))
        self.v_featured = np.zeros(n, dtype=bool)
        self.v_featured[featured] = True
        self.venues_in_city = [np.flatnonzero(city == c) for c in range(nc)]

    def _owners(self) -> None:
        rng, nv, nu = self._rng["owners"], self.scale.venues, self.scale.users
        n_owners = max(1, min(nu // 2, int(nv * 0.7)))
        owners = rng.choice(nu, n_owners, replace=False)
        venue_owner = np.empty(nv, dtype=np.int64)
        perm = rng.permutation(nv)
        venue_owner[perm[:n_owners]] = owners
        # the rest belong to owners who already have a venue; a few own many
        extra = perm[n_owners:]
        w = rng.pareto(1.0, n_owners) + 0.01
        venue_owner[extra] = owners[rng.choice(n_owners, len(extra), p=w / w.sum())]
        self.v_owner = venue_owner
        managed = np.flatnonzero(rng.random(nv) < 0.1)
        managers = rng.integers(0, nu, len(managed))
        keep = managers != venue_owner[managed]
        self.vo_venue = np.concatenate([np.arange(nv), managed[keep]])
        self.vo_user = np.concatenate([venue_owner, managers[keep]])
        self.vo_role = np.array(["owner"] * nv + ["manager"] * int(keep.sum()), dtype=object)
        self.vo_created = np.maximum(np.concatenate([self.v_created, self.v_created[managed[keep]] + 30 * DAY]),
                                     self.u_joined[self.vo_user])

    def _friendships(self) -> None:
        rng, nu = self._rng["friends"], self.scale.users
        m = nu * 4
        a = rng.integers(0, nu, m)
        same_city = rng.random(m) < 0.9
        b = rng.integers(0, nu, m)
        # same city: pick a partner among users of a's city
        order = np.argsort(self.u_city, kind="stable")
        bounds = np.searchsorted(self.u_city[order], np.arange(len(self.cities) + 1))
        ca = self.u_city[a]
        lo, hi = bounds[ca], bounds[ca + 1]
        pick = lo + (rng.random(m) * (hi - lo)).astype(np.int64)
        b = np.where(same_city & (hi > lo), order[np.minimum(pick, len(order) - 1)], b)
        ok = a != b
        a, b = a[ok], b[ok]
        lo_, hi_ = np.minimum(a, b), np.maximum(a, b)
        key, idx = np.unique(lo_ * nu + hi_, return_index=True)
        a, b = a[idx], b[idx]
        k = len(a)
        accepted = rng.random(k) < 0.9
        created = self.start - rng.integers(0, 300 * DAY, k)
        recent = rng.random(k) < 0.3
        created = np.where(recent, self.start + rng.integers(0, max(1, self.now - self.start - HOUR), k), created)
        created = np.maximum(created, np.maximum(self.u_joined[a], self.u_joined[b]))
        # accepted: both directions; pending: only the requester's row
        self.fr_user = np.concatenate([a, b[accepted]])
        self.fr_friend = np.concatenate([b, a[accepted]])
        self.fr_status = np.concatenate([np.where(accepted, "accepted", "pending").astype(object),
                                         np.full(int(accepted.sum()), "accepted", dtype=object)])
        self.fr_close = rng.random(len(self.fr_user)) < 0.15
        self.fr_created = np.concatenate([created, created[accepted]])
        # one 'friend_added' event per accepted pair, from the requester
        acc = np.flatnonzero(accepted)
        self._add_events(
            event_type="friend_added", category="social", user=a[acc], target_type="user",
            target_id=self.u_id[b[acc]], venue=None, source=None,
            visibility=self.visibility("activity_feed", a[acc]), metadata=None, analytics=False,
            created=created[acc], trigger_written=False)

    def _settings(self) -> None:
        rng, nu = self._rng["settings"], self.scale.users
        self.s_has = rng.random(nu) < 0.8
        self.s_push = np.where(self.s_has, rng.random(nu) < 0.85, True)
        self.s_in_app = np.where(self.s_has, rng.random(nu) < 0.95, True)
        self.s_email = np.where(self.s_has, rng.random(nu) < 0.2, False)
        self.s_flash = np.where(self.s_has, rng.random(nu) < 0.8, True)
        self.s_cat = {
            "friend_request": np.where(self.s_has, rng.random(nu) < 0.95, True),
            "venue_share": np.where(self.s_has, rng.random(nu) < 0.9, True),
            "collection_activity": np.where(self.s_has, rng.random(nu) < 0.85, True),
            "review_response": np.where(self.s_has, rng.random(nu) < 0.9, True),
            "check_in_nearby": np.where(self.s_has, rng.random(nu) < 0.75, True),
            "system": np.ones(nu, dtype=bool),
        }
        quiet = self.s_has & (rng.random(nu) < 0.3)
        qi = rng.integers(0, len(QUIET_HOURS), nu)
        self.s_quiet = quiet
        self.s_quiet_start = np.array([q[0] for q in QUIET_HOURS])[qi] * MIN  # µs of day
        self.s_quiet_end = np.array([q[1] for q in QUIET_HOURS])[qi] * MIN
        stale_tz = rng.random(nu) < 0.05
        self.s_tz = np.where(stale_tz, TIMEZONES.index("UTC"), self.u_tz)
        self.s_has_max = self.s_has & (rng.random(nu) < 0.4)
        self.s_max = np.array([1.0, 2.0, 3.0, 5.0, 10.0, 25.0])[rng.integers(0, 6, nu)]
        # the timezone the recipients function uses for quiet hours
        self.quiet_tz = np.where(self.s_has, self.s_tz, self.u_tz)

    # -- check-ins -------------------------------------------------------------------------------------

    def _check_ins(self) -> None:
        rng, sc = self._rng["check_ins"], self.scale
        n, nv = sc.check_ins, sc.venues
        nc = len(self.cities)
        user = rng.choice(sc.users, n, p=self.u_activity / self.u_activity.sum())
        travel = rng.random(n) < 0.06
        city = np.where(travel, rng.choice(nc, n, p=self.city_weights), self.u_city[user])
        venue = np.empty(n, dtype=np.int64)
        for c in range(nc):
            sel = np.flatnonzero(city == c)
            idx = self.venues_in_city[c]
            p = self.v_pop[idx] / self.v_pop[idx].sum()
            venue[sel] = idx[rng.choice(len(idx), len(sel), p=p)]
        # daily and weekly rhythm, slow growth over the period
        d = np.arange(self.days)
        day_start = self.first_day + d * DAY
        weekday = ((day_start // DAY) + 3) % 7  # 1970-01-01 was a Thursday
        dw = WEEKDAY_FACTOR[weekday] * (1.0 + 0.5 * d / max(self.days - 1, 1))
        day = rng.choice(self.days, n, p=dw / dw.sum())
        cat = self.v_cat[venue]
        hour = np.empty(n, dtype=np.int64)
        for k in range(len(CATEGORIES)):
            sel = np.flatnonzero(cat == k)
            hour[sel] = rng.choice(24, len(sel), p=HOUR_WEIGHTS[k])
        t = day_start[day] + hour * HOUR + rng.integers(0, HOUR, n) - self.city_offset[self.v_city[venue]]
        limit = self.now - MIN
        t = np.where(t > limit, t - 7 * DAY, t)  # the future folds back one week: same rhythm
        t = np.where(t > limit, limit - rng.integers(0, 6 * HOUR, n), t)
        boost = max(3, n // 500)  # a few extra in the last two hours: the app is busy now
        t[-boost:] = self.now - rng.integers(MIN, 2 * HOUR, boost)
        stay = _lognormal_us(rng, 1.0, 0.45, n) * (CATEGORY_STAY[cat] * MIN).astype(np.int64)
        # per user in time order: a check-in ends at its stay or at the user's next check-in
        o = np.lexsort((t, user))
        us, ts, vs, st = user[o], t[o], venue[o], stay[o]
        same_next = np.r_[us[1:] == us[:-1], False]
        next_t = np.r_[ts[1:], 0]
        end = ts + st
        out = np.where(same_next, np.minimum(end, next_t), end)
        active = ~same_next & (end > self.now)
        last_of_user = ~same_next
        lu = us[last_of_user]
        self.u_last_venue = np.full(sc.users, -1, dtype=np.int64)
        self.u_last_venue[lu] = vs[last_of_user]
        self.u_last_at = np.zeros(sc.users, dtype=np.int64)
        self.u_last_at[lu] = ts[last_of_user]
        # time order for loading
        o2 = np.argsort(ts, kind="stable")
        self.ci_user, self.ci_venue, self.ci_at = us[o2], vs[o2], ts[o2]
        self.ci_out, self.ci_active = out[o2], active[o2]
        self.ci_id = _u(rng, n)
        self._add_events(
            event_type="check_in", category="social", user=self.ci_user, target_type="venue",
            target_id=self.v_id[self.ci_venue], venue=self.ci_venue, source=self.ci_id,
            visibility=self.visibility("check_ins", self.ci_user), metadata=None, analytics=False,
            created=self.ci_at, trigger_written=True)
        # user first activity, for created_at
        first = np.full(sc.users, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, self.ci_user, self.ci_at)
        self.u_created = np.minimum(self.u_joined, first - DAY)
        # pairs (user, venue): first visit and visit count
        key = self.ci_user * nv + self.ci_venue
        self.pair_key, first_idx, self.pair_count = np.unique(key, return_index=True, return_counts=True)
        self.pair_first = self.ci_at[first_idx]
        # effective location (last check-in venue, else home) as the recipients function sees it
        has_last = self.u_last_venue >= 0
        lv = np.maximum(self.u_last_venue, 0)
        self.u_last_lat = np.where(has_last, self.v_lat[lv], np.nan)
        self.u_last_lng = np.where(has_last, self.v_lng[lv], np.nan)
        self.u_has_last = has_last
        self.eff_lat = np.where(has_last, self.u_last_lat, self.u_home_lat)
        self.eff_lng = np.where(has_last, self.u_last_lng, self.u_home_lng)
        self.eff_valid = has_last | ~self.u_no_home
        d2 = ((self.eff_lat[:, None] - self.city_lat[None, :]) ** 2
              + ((self.eff_lng[:, None] - self.city_lng[None, :]) * np.cos(np.radians(self.city_lat))[None, :]) ** 2)
        self.u_bucket = np.argmin(d2, axis=1)

    # -- reviews, favorites, collections -----------------------------------------------------------------

    def _reviews(self) -> None:
        rng, sc = self._rng["reviews"], self.scale
        nv = sc.venues
        target = int(sc.check_ins * 0.08)
        P = len(self.pair_key)
        pick = np.flatnonzero(rng.random(P) < min(1.0, 0.9 * target / max(P, 1)))
        ru, rv = self.pair_key[pick] // nv, self.pair_key[pick] % nv
        rt = np.minimum(self.pair_first[pick] + _lognormal_us(rng, 5 * HOUR, 1.0, len(pick)), self.now - MIN)
        verified = rng.random(len(pick)) < 0.85
        # unverified reviews from people who never checked in
        m = max(1, target // 10)
        eu = rng.integers(0, sc.users, m)
        ev = np.empty(m, dtype=np.int64)
        for c in range(len(self.cities)):
            sel = np.flatnonzero(self.u_city[eu] == c)
            idx = self.venues_in_city[c]
            ev[sel] = idx[rng.choice(len(idx), len(sel), p=self.v_pop[idx] / self.v_pop[idx].sum())]
        ekey = eu * nv + ev
        ekey, ei = np.unique(ekey, return_index=True)
        keep = ~np.isin(ekey, self.pair_key)
        eu, ev = eu[ei][keep], ev[ei][keep]
        et = self.start + rng.integers(0, self.now - MIN - self.start, len(eu))
        self.rv_user = np.concatenate([ru, eu])
        self.rv_venue = np.concatenate([rv, ev])
        self.rv_at = np.concatenate([rt, et])
        self.rv_verified = np.concatenate([verified, np.zeros(len(eu), dtype=bool)])
        k = len(self.rv_user)
        self.rv_rating = np.clip(np.rint(self.v_quality[self.rv_venue] + rng.normal(0, 0.85, k)), 1, 5).astype(int)
        helpful = np.floor(rng.pareto(1.3, k) * 2).astype(np.int64) + 1
        self.rv_helpful = np.where(rng.random(k) < 0.55, 0, np.minimum(helpful, 500))
        edited = rng.random(k) < 0.1
        self.rv_updated = np.where(edited, np.minimum(self.rv_at + rng.integers(0, 5 * DAY, k), self.now),
                                   self.rv_at)
        choice = rng.integers(0, 3, k)
        self.rv_body = [REVIEW_TEXT[r][c] for r, c in zip(self.rv_rating.tolist(), choice.tolist(), strict=True)]
        self.rv_id = _u(rng, k)
        self._add_events(
            event_type="review", category="social", user=self.rv_user, target_type="venue",
            target_id=self.v_id[self.rv_venue], venue=self.rv_venue, source=self.rv_id,
            visibility=self.visibility("reviews", self.rv_user),
            metadata=np.array([f'{{"rating": {r}}}' for r in self.rv_rating.tolist()], dtype=object),
            analytics=False, created=self.rv_at, trigger_written=True)

    def _favorites(self) -> None:
        rng, sc = self._rng["favorites"], self.scale
        nv = sc.venues
        target = int(sc.check_ins * 0.06)
        pick = _topk_weighted(rng, self.pair_count.astype(float) ** 1.5, target)
        self.fav_user, self.fav_venue = self.pair_key[pick] // nv, self.pair_key[pick] % nv
        self.fav_at = np.minimum(self.pair_first[pick] + rng.integers(MIN, 3 * DAY, len(pick)), self.now - MIN)
        su, sv = uuid_strings(self.u_id[self.fav_user]), uuid_strings(self.v_id[self.fav_venue])
        src = b"".join(hashlib.md5(f"favorite/{a}/{b}".encode()).digest() for a, b in zip(su, sv, strict=True))
        source = np.frombuffer(src, dtype=np.uint8).reshape(-1, 16) if src else np.empty((0, 16), np.uint8)
        self._add_events(
            event_type="favorite", category="engagement", user=self.fav_user, target_type="venue",
            target_id=self.v_id[self.fav_venue], venue=self.fav_venue, source=source,
            visibility=self.visibility("favorites", self.fav_user), metadata=None, analytics=False,
            created=self.fav_at, trigger_written=True)
        # favorites per venue, for favorites-only offers
        o = np.lexsort((self.fav_at, self.fav_venue))
        self._fav_sorted_venue, self._fav_sorted_user, self._fav_sorted_at = \
            self.fav_venue[o], self.fav_user[o], self.fav_at[o]

    def _collections(self) -> None:
        rng, sc = self._rng["collections"], self.scale
        owners = np.flatnonzero(rng.random(sc.users) < 0.25)
        per = rng.choice([1, 2, 3], len(owners), p=[0.6, 0.3, 0.1])
        cu = np.repeat(owners, per)
        k = len(cu)
        self.col_user = cu
        self.col_id = _u(rng, k)
        self.col_name = [COLLECTION_NAMES[i] for i in rng.integers(0, len(COLLECTION_NAMES), k).tolist()]
        self.col_vis = VIS[rng.choice(4, k, p=[0.3, 0.45, 0.1, 0.15])]
        self.col_created = self.start - DAY + rng.integers(0, self.now - self.start, k)
        size = rng.integers(2, 11, k)
        cv_col = np.repeat(np.arange(k), size)
        cv_venue = np.empty(len(cv_col), dtype=np.int64)
        ucity = self.u_city[cu[cv_col]]
        for c in range(len(self.cities)):
            sel = np.flatnonzero(ucity == c)
            idx = self.venues_in_city[c]
            cv_venue[sel] = idx[rng.choice(len(idx), len(sel), p=self.v_pop[idx] / self.v_pop[idx].sum())]
        key, first = np.unique(cv_col * sc.venues + cv_venue, return_index=True)
        self.cv_col, self.cv_venue = cv_col[first], cv_venue[first]
        created = self.col_created[self.cv_col]
        self.cv_added = created + (rng.random(len(self.cv_col)) * (self.now - MIN - created)).astype(np.int64)
        self._add_events(
            event_type="collection_add", category="engagement", user=self.col_user[self.cv_col],
            target_type="collection", target_id=self.col_id[self.cv_col], venue=self.cv_venue, source=None,
            visibility=self.col_vis[self.cv_col], metadata=None, analytics=False, created=self.cv_added,
            trigger_written=False)

    # -- flash offers ------------------------------------------------------------------------------------

    def quiet_now(self, at_us: int, users: np.ndarray) -> np.ndarray:
        """Whether it is quiet hours for each of ``users`` at ``at_us`` (as flash_offer_recipients decides)."""
        dt = datetime.fromtimestamp(at_us / US, UTC)
        tod = np.empty(len(TIMEZONES), dtype=np.int64)
        for i, zone in enumerate(_ZONES):
            local = dt.astimezone(zone)
            tod[i] = ((local.hour * 60 + local.minute) * 60 + local.second) * US + local.microsecond
        t = tod[self.quiet_tz[users]]
        s, e = self.s_quiet_start[users], self.s_quiet_end[users]
        inside = np.where(s <= e, (t >= s) & (t < e), (t >= s) | (t < e))
        return self.s_quiet[users] & inside

    def _city_users(self, city: int) -> np.ndarray:
        cache = self.__dict__.setdefault("_city_users_cache", {})
        if city not in cache:
            cache[city] = np.flatnonzero(self.u_bucket == city)
        return cache[city]

    def _eligible(self, city: int) -> np.ndarray:
        """Users near ``city`` whose settings allow offer pushes on some channel (time-independent part)."""
        cache = self.__dict__.setdefault("_eligible_cache", {})
        if city not in cache:
            u = self._city_users(city)
            ok = self.eff_valid[u] & self.s_flash[u] & (self.s_push[u] | self.s_in_app[u] | self.s_email[u])
            cache[city] = u[ok]
        return cache[city]

    def recipients(self, offer: int, at_us: int) -> np.ndarray:
        """User indices ``flash_offer_recipients(offer)`` returns at time ``at_us`` (this data, loaded)."""
        v = self.of_venue[offer]
        cand = self._eligible(int(self.v_city[v]))
        dist = _haversine(self.eff_lat[cand], self.eff_lng[cand], self.v_lat[v], self.v_lng[v])
        radius = self.of_radius[offer]
        limit = np.where(self.s_has_max[cand], np.minimum(radius, self.s_max[cand]), radius)
        cand = cand[dist <= limit]
        cand = cand[~self.quiet_now(at_us, cand)]
        if self.of_fav_only[offer]:
            lo, hi = np.searchsorted(self._fav_sorted_venue, [v, v + 1])
            fans = self._fav_sorted_user[lo:hi][self._fav_sorted_at[lo:hi] <= at_us]
            cand = cand[np.isin(cand, fans)]
        return cand

    def _offers(self) -> None:
        rng, sc = self._rng["offers"], self.scale
        nv = sc.venues
        n_hist = max(10, int(nv * self.days / 30 * sc.offers_per_venue_month))
        n_cur = max(6, n_hist // 30)
        n = n_hist + n_cur
        w = self.v_pop ** 0.6
        venue = rng.choice(nv, n, p=w / w.sum())
        quarter = 15 * MIN
        start = self.start + rng.integers(0, self.now + 3 * DAY - self.start, n)
        start = (start // quarter) * quarter
        dur = np.array([2, 3, 4, 6, 12, 24, 48])[rng.integers(0, 7, n)] * HOUR
        end = start + dur
        # two surely scheduled, the current ones running now (two of them started minutes ago)
        start[n_hist - 2:n_hist] = self.now + rng.integers(HOUR, 48 * HOUR, 2)
        end[n_hist - 2:n_hist] = start[n_hist - 2:n_hist] + 4 * HOUR
        cur = np.arange(n_hist, n)
        start[cur] = self.now - rng.integers(5 * MIN, 8 * HOUR, n_cur)
        start[cur[:2]] = self.now - rng.integers(2 * MIN, 10 * MIN, 2)
        end[cur] = self.now + rng.integers(HOUR, 30 * HOUR, n_cur)
        # The demo owner (accounts.demo_owner_user) sees offers in every state: the most popular venue gets
        # three ended offers, the two scheduled ones and three running ones (one of them made full in _funnel).
        self.demo_venue = int(np.argmax(self.v_pop))
        venue[np.flatnonzero(end[:n_hist - 2] <= self.now - DAY)[:3]] = self.demo_venue
        venue[n_hist - 2:n_hist] = self.demo_venue
        venue[cur[:3]] = self.demo_venue
        radius = np.array([0.5, 1.0, 1.5, 2.0, 3.0, 5.0])[rng.choice(6, n, p=[0.1, 0.2, 0.25, 0.2, 0.15, 0.1])]
        radius[cur] = np.array([2.0, 3.0, 5.0])[rng.integers(0, 3, n_cur)]
        self.of_venue, self.of_start, self.of_end, self.of_radius = venue, start, end, radius
        self.of_fav_only = rng.random(n) < 0.12
        self.of_fav_only[cur] = False
        self.of_max = np.array([10, 20, 25, 50, 100])[rng.integers(0, 5, n)]
        self.of_id = _u(rng, n)
        t_i = rng.integers(0, len(OFFER_TITLES), n)
        self.of_title = [OFFER_TITLES[i] for i in t_i.tolist()]
        self.of_desc = [f"{OFFER_TITLES[i]} at {self.v_name[v]} while it lasts."
                        for i, v in zip(t_i.tolist(), venue.tolist(), strict=True)]
        self.of_cap = [VALUE_CAPS[i] for i in rng.integers(0, len(VALUE_CAPS), n).tolist()]
        self.of_created = start - rng.integers(HOUR, 7 * DAY, n)
        self.of_created = np.minimum(self.of_created, self.now - MIN)
        started = start <= self.now
        self.of_push_at = np.where(started, np.minimum(start + rng.integers(5 * US, 45 * US, n), self.now), 0)
        self.of_push_sent = started
        self._funnel()

    def _funnel(self) -> None:
        rng = self._rng["funnel"]
        n = len(self.of_id)
        push_u, push_o, push_read, push_click = [], [], [], []
        view_u, view_o, view_t = [], [], []
        click_u, click_o, click_t = [], [], []
        claim_u, claim_o, claim_t = [], [], []
        self.of_recipients = np.zeros(n, dtype=np.int64)
        for o in range(n):
            if not self.of_push_sent[o]:
                continue
            at = int(self.of_push_at[o])
            horizon = min(int(self.of_end[o]), self.now - US)
            r = self.recipients(o, at)
            self.of_recipients[o] = len(r)
            appeal = rng.lognormal(0.0, 0.35)
            k = len(r)
            vt = at + _lognormal_us(rng, 20 * MIN, 1.0, k)
            viewed = (rng.random(k) < min(0.9, 0.55 * appeal)) & (vt < horizon)
            ct = vt + _lognormal_us(rng, 90 * US, 0.8, k)
            clicked = viewed & (rng.random(k) < min(0.9, 0.4 * appeal)) & (ct < horizon)
            lt = ct + _lognormal_us(rng, 2 * MIN, 0.8, k)
            claimed = clicked & (rng.random(k) < 0.55) & (lt < horizon)
            read_at = np.where(viewed, vt, 0)
            click_at = np.where(clicked, ct, 0)
            push_u.append(r)
            push_o.append(np.full(k, o))
            push_read.append(read_at)
            push_click.append(click_at)
            again = viewed & (rng.random(k) < 0.25)
            vt2 = vt + _lognormal_us(rng, 30 * MIN, 1.0, k)
            again &= vt2 < horizon
            # people browsing the app find the offer without a push
            bucket = self._city_users(int(self.v_city[self.of_venue[o]]))
            nb = min(len(bucket), int(rng.poisson(0.1 * k + 0.5)))
            bu = rng.choice(bucket, nb, replace=False) if nb else np.empty(0, dtype=np.int64)
            bu = bu[~np.isin(bu, r)]
            bt = at + (rng.random(len(bu)) * max(horizon - at, 1)).astype(np.int64)
            view_u += [r[viewed], r[again], bu]
            view_o += [np.full(int(viewed.sum() + again.sum() + len(bu)), o)]
            view_t += [vt[viewed], vt2[again], bt]
            click_u.append(r[clicked])
            click_o.append(np.full(int(clicked.sum()), o))
            click_t.append(ct[clicked])
            cu, cl = r[claimed], lt[claimed]
            order = np.argsort(cl, kind="stable")[: self.of_max[o]]  # first come, first served
            claim_u.append(cu[order])
            claim_o.append(np.full(len(order), o))
            claim_t.append(cl[order])

        def cat(parts, dtype=np.int64):
            return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype=dtype)

        self.push_user, self.push_offer = cat(push_u), cat(push_o)
        self.push_read, self.push_click = cat(push_read), cat(push_click)
        self.view_user, self.view_offer, self.view_at = cat(view_u), cat(view_o), cat(view_t)
        self.click_user, self.click_offer, self.click_at = cat(click_u), cat(click_o), cat(click_t)
        self.cl_user, self.cl_offer, self.cl_at = cat(claim_u), cat(claim_o), cat(claim_t)

        # running offers: some are full (every claim taken); the others keep room
        claims_per = np.bincount(self.cl_offer, minlength=n)
        running = (self.of_start <= self.now) & (self.of_end > self.now)
        full = running & (claims_per > 0) & (rng.random(n) < 0.4)
        if running.any() and not full.any() and (running & (claims_per > 0)).any():
            full[np.flatnonzero(running & (claims_per > 0))[0]] = True
        demo_running = np.flatnonzero(running & (self.of_venue == self.demo_venue))
        demo_claimed = demo_running[claims_per[demo_running] > 0]
        if len(demo_claimed):  # one of the demo venue's running offers is full, the others keep room
            full[demo_running] = False
            full[demo_claimed[0]] = True
        self.of_max = np.maximum(self.of_max, claims_per)
        self.of_max = np.where(running & ~full, np.maximum(self.of_max, claims_per + 5), self.of_max)
        self.of_max = np.where(full, claims_per, self.of_max)

        k = len(self.cl_user)
        self.cl_id = _u(rng, k)
        self.cl_expires = np.minimum(self.cl_at + 2 * HOUR, self.of_end[self.cl_offer] + HOUR)
        rt = self.cl_at + _lognormal_us(rng, 25 * MIN, 0.7, k)
        self.cl_redeemed = (rng.random(k) < 0.65) & (rt < self.cl_expires) & (rt <= self.now - US)
        self.cl_redeemed_at = np.where(self.cl_redeemed, rt, 0)
        self.cl_status = np.where(self.cl_redeemed, "redeemed",
                                  np.where(self.cl_expires <= self.now, "expired", "active")).astype(object)
        self.cl_staff = self.v_owner[self.of_venue[self.cl_offer]]
        self.cl_token = self._tokens(rng, self.cl_offer)

        ov = self.of_venue
        self._add_events(event_type="flash_offer_view", category="commerce", user=self.view_user,
                         target_type="offer", target_id=self.of_id[self.view_offer], venue=ov[self.view_offer],
                         source=None, visibility="private", metadata=None, analytics=True, created=self.view_at,
                         trigger_written=False)
        self._add_events(event_type="flash_offer_click", category="commerce", user=self.click_user,
                         target_type="offer", target_id=self.of_id[self.click_offer],
                         venue=ov[self.click_offer], source=None, visibility="private", metadata=None,
                         analytics=True, created=self.click_at, trigger_written=False)
        self._add_events(event_type="flash_offer_claim", category="commerce", user=self.cl_user,
                         target_type="offer", target_id=self.of_id[self.cl_offer], venue=ov[self.cl_offer],
                         source=self.cl_id, visibility="private", metadata=None, analytics=True,
                         created=self.cl_at, trigger_written=True)
        red = np.flatnonzero(self.cl_redeemed)
        staff = uuid_strings(self.u_id[self.cl_staff[red]])
        self._add_events(event_type="flash_offer_redeem", category="commerce", user=self.cl_user[red],
                         target_type="offer", target_id=self.of_id[self.cl_offer[red]],
                         venue=ov[self.cl_offer[red]], source=self.cl_id[red], visibility="private",
                         metadata=np.array([f'{{"staff_id": "{s}"}}' for s in staff], dtype=object),
                         analytics=True, created=self.cl_redeemed_at[red], trigger_written=True)

    @staticmethod
    def _tokens(rng: np.random.Generator, offers: np.ndarray) -> list[str]:
        """6-character claim tokens, unique within each offer."""
        k = len(offers)
        codes = rng.integers(0, 32, size=(k, 6))
        tokens = np.ascontiguousarray(_TOKEN_ALPHABET[codes]).view("S6").ravel().astype("U6").tolist()
        seen: set[tuple[int, str]] = set()
        for i, o in enumerate(offers.tolist()):
            while (o, tokens[i]) in seen:
                tokens[i] = "".join(chr(c) for c in _TOKEN_ALPHABET[rng.integers(0, 32, 6)])
            seen.add((o, tokens[i]))
        return tokens

    # -- notifications ------------------------------------------------------------------------------------

    def _other_notifications(self) -> None:
        rng, sc = self._rng["notifications"], self.scale
        m = int(sc.check_ins * sc.notifications_per_check_in)
        cat = rng.choice(len(OTHER_NOTIFICATIONS), m, p=OTHER_WEIGHTS / OTHER_WEIGHTS.sum())
        user = rng.integers(0, sc.users, m)
        created = self.start + rng.integers(0, self.now - MIN - self.start, m)
        actor = np.full(m, -1, dtype=np.int64)
        ref_kind = np.full(m, "", dtype=object)
        ref = np.zeros((m, 16), dtype=np.uint8)
        has_ref = np.zeros(m, dtype=bool)
        # friend requests and venue shares come from friends
        if len(self.fr_user):
            f = rng.integers(0, len(self.fr_user), m)
            social = np.isin(cat, [0, 1])
            user = np.where(social, self.fr_friend[f], user)
            actor = np.where(social, self.fr_user[f], actor)
        sel = cat == 0
        ref_kind[sel], ref[sel], has_ref[sel] = "user", self.u_id[actor[sel]], True
        sel = np.flatnonzero(cat == 1)
        vv = rng.integers(0, sc.venues, len(sel))
        ref_kind[sel], ref[sel], has_ref[sel] = "venue", self.v_id[vv], True
        sel = np.flatnonzero(cat == 2)
        if len(self.col_user) and len(sel):
            cc = rng.integers(0, len(self.col_user), len(sel))
            ref_kind[sel], ref[sel], has_ref[sel] = "collection", self.col_id[cc], True
            user[sel] = self.col_user[cc]
            actor[sel] = rng.integers(0, sc.users, len(sel))
        sel = np.flatnonzero(cat == 3)
        if len(self.rv_user) and len(sel):
            rr = rng.integers(0, len(self.rv_user), len(sel))
            ref_kind[sel], ref[sel], has_ref[sel] = "review", self.rv_id[rr], True
            user[sel] = self.rv_user[rr]
            actor[sel] = self.v_owner[self.rv_venue[rr]]
            created[sel] = np.minimum(self.rv_at[rr] + rng.integers(HOUR, 3 * DAY, len(sel)), self.now - MIN)
        sel = np.flatnonzero(cat == 4)
        if len(sel):
            cc = rng.integers(0, len(self.ci_user), len(sel))
            ref_kind[sel], ref[sel], has_ref[sel] = "check_in", self.ci_id[cc], True
            actor[sel] = self.ci_user[cc]
            created[sel] = self.ci_at[cc] + rng.integers(US, 5 * MIN, len(sel))
            created[sel] = np.minimum(created[sel], self.now - US)
        actor = np.where(actor == user, -1, actor)
        # settings decide: the category must be on and some channel enabled
        allowed = np.zeros(m, dtype=bool)
        for i, name in enumerate(OTHER_NOTIFICATIONS):
            s = cat == i
            allowed[s] = self.s_cat[name][user[s]]
        allowed &= self.s_push[user] | self.s_in_app[user] | self.s_email[user]
        keep = np.flatnonzero(allowed)
        self.on_cat = np.array(OTHER_NOTIFICATIONS, dtype=object)[cat[keep]]
        self.on_user, self.on_created, self.on_actor = user[keep], created[keep], actor[keep]
        self.on_ref_kind, self.on_ref, self.on_has_ref = ref_kind[keep], ref[keep], has_ref[keep]
        k = len(keep)
        read = rng.random(k) < 0.6
        self.on_read_at = np.where(read, self.on_created + _lognormal_us(rng, 40 * MIN, 1.3, k), 0)
        read &= self.on_read_at <= self.now
        self.on_read_at = np.where(read, self.on_read_at, 0)
        clicked = read & (rng.random(k) < 0.35)
        self.on_click_at = np.where(clicked, self.on_read_at + _lognormal_us(rng, 5 * US, 0.6, k), 0)
        clicked &= self.on_click_at <= self.now
        self.on_click_at = np.where(clicked, self.on_click_at, 0)
        nearby = self.on_cat == "check_in_nearby"
        self.on_expires = np.where(nearby, self.on_created + 6 * HOUR, 0)

    # -- query performance history -----------------------------------------------------------------------

    def _query_log(self) -> None:
        rng = self._rng["qpl"]
        names = self.query_names
        q = len(names)
        n = self.scale.query_log_rows
        qdays = min(self.days, 14)
        weight = rng.lognormal(0.0, 1.0, q)
        median = np.clip(np.exp(rng.normal(np.log(4.0), 1.1, q)), 0.2, 800.0)
        sigma = rng.uniform(0.35, 0.8, q)
        rows_mean = np.exp(rng.normal(np.log(20), 1.5, q))
        which = rng.choice(q, n, p=weight / weight.sum())
        start = self.now - qdays * DAY
        hour_w = _profile((10.0, 3.0, 1.0), (20.0, 2.5, 1.2))
        day = rng.integers(0, qdays, n)
        t = start + day * DAY + rng.choice(24, n, p=hour_w) * HOUR + rng.integers(0, HOUR, n)
        t = np.where(t > self.now - US, t - DAY, t)
        t = np.maximum(t, start)
        ms = median[which] * rng.lognormal(0.0, sigma[which], n)
        # regressions: two queries get slower from one day on, one has a bad day (by weight, so they are seen)
        top = np.argsort(-weight)[:3]
        reg_day = self.now - 3 * DAY
        bad_lo, bad_hi = self.now - 6 * DAY, self.now - 5 * DAY
        factor = np.ones(n)
        factor[(which == top[0]) & (t >= reg_day)] = 3.5
        if q > 1:
            factor[(which == top[1]) & (t >= bad_lo) & (t < bad_hi)] = 6.0
        if q > 2:
            factor[(which == top[2]) & (t >= reg_day)] = 2.2
        self.regressed = {names[top[0]]: "slower since 3 days ago (x3.5)"}
        if q > 1:
            self.regressed[names[top[1]]] = "slow for one day, 5-6 days ago (x6)"
        if q > 2:
            self.regressed[names[top[2]]] = "slower since 3 days ago (x2.2)"
        self.qp_name = np.array(names, dtype=object)[which]
        self.qp_ms = np.round(ms * factor, 3)
        self.qp_rows = rng.poisson(rows_mean[which])
        self.qp_user = rng.integers(0, self.scale.users, n)
        self.qp_user_null = rng.random(n) < 0.4
        self.qp_at = t
        self.qp_id = _u(rng, n)

    # -- events --------------------------------------------------------------------------------------------

    def _add_events(self, *, event_type, category, user, target_type, target_id, venue, source, visibility,
                    metadata, analytics, created, trigger_written) -> None:
        k = len(user)
        self._events.append({
            "event_type": event_type, "category": category, "user": np.asarray(user), "target_type": target_type,
            "target_id": target_id, "venue": venue, "source": source,
            "visibility": np.full(k, visibility, dtype=object) if isinstance(visibility, str) else visibility,
            "metadata": metadata, "analytics": analytics, "created": np.asarray(created),
            "trigger_written": trigger_written, "rows": k,
        })

    # -- tables -------------------------------------------------------------------------------------------

    def time_range(self) -> tuple[int, int]:
        """Earliest and latest timestamp of partitioned rows (check-ins, events), in µs."""
        parts = [self.ci_at] + [e["created"] for e in self._events if e["rows"]]
        lo = min(int(p.min()) for p in parts if len(p))
        hi = max(int(p.max()) for p in parts if len(p))
        return lo, hi

    def query_log_range(self) -> tuple[int, int]:
        return int(self.qp_at.min()), int(self.qp_at.max())

    def tables(self, strategy: str = "recompute") -> list[Table]:
        """Tables in load order.  ``strategy='triggers'`` leaves out the events the triggers will write."""
        nu, nv = self.scale.users, self.scale.venues
        T: list[Table] = []
        home_null = self.u_no_home
        T.append(Table("users", nu, [
            Column("id", "uuid", self.u_id),
            Column("username", "text", self.u_username),
            Column("display_name", "text", self.u_display),
            Column("email", "text", [f"{u}@example.com" for u in self.u_username]),
            Column("timezone", "text", np.array(TIMEZONES, dtype=object)[self.u_tz]),
            Column("home_lat", "float", self.u_home_lat, home_null),
            Column("home_lng", "float", self.u_home_lng, home_null),
            Column("last_lat", "float", np.nan_to_num(self.u_last_lat), ~self.u_has_last),
            Column("last_lng", "float", np.nan_to_num(self.u_last_lng), ~self.u_has_last),
            Column("last_location_at", "ts", self.u_last_at, ~self.u_has_last),
            Column("created_at", "ts", self.u_created),
        ]))
        pv = np.flatnonzero(self.u_has_privacy)
        keys = list(PRIVACY_MIX)
        vals = [self.privacy[k] for k in keys]
        pres = [self.privacy_present[k] for k in keys]
        T.append(Table("user_privacy", len(pv), [
            Column("user_id", "uuid", self.u_id[pv]),
            Column("visibility", "text", [_json_vis(keys, vals, pres, i) for i in pv.tolist()]),
            Column("allow_friend_requests", "bool", self.u_allow_requests[pv]),
            Column("show_activity_status", "bool", self.u_show_status[pv]),
            Column("created_at", "ts", self.u_created[pv]),
            Column("updated_at", "ts", self.u_created[pv]),
        ]))
        sv = np.flatnonzero(self.s_has)
        qs = np.array([f"{x // HOUR:02d}:{(x // MIN) % 60:02d}" for x in range(0, DAY, 30 * MIN)], dtype=object)
        T.append(Table("notification_settings", len(sv), [
            Column("user_id", "uuid", self.u_id[sv]),
            Column("push_enabled", "bool", self.s_push[sv]),
            Column("in_app_enabled", "bool", self.s_in_app[sv]),
            Column("email_enabled", "bool", self.s_email[sv]),
            Column("flash_offers", "bool", self.s_flash[sv]),
            Column("friend_requests", "bool", self.s_cat["friend_request"][sv]),
            Column("venue_shares", "bool", self.s_cat["venue_share"][sv]),
            Column("collection_activity", "bool", self.s_cat["collection_activity"][sv]),
            Column("reviews_responses", "bool", self.s_cat["review_response"][sv]),
            Column("check_in_nearby", "bool", self.s_cat["check_in_nearby"][sv]),
            Column("quiet_hours_start", "text", qs[self.s_quiet_start[sv] // (30 * MIN)], ~self.s_quiet[sv]),
            Column("quiet_hours_end", "text", qs[self.s_quiet_end[sv] // (30 * MIN)], ~self.s_quiet[sv]),
            Column("timezone", "text", np.array(TIMEZONES, dtype=object)[self.s_tz[sv]]),
            Column("max_distance_miles", "float", self.s_max[sv], ~self.s_has_max[sv]),
            Column("created_at", "ts", self.u_created[sv]),
            Column("updated_at", "ts", self.u_created[sv]),
        ]))
        rng = self._rng["devices"]
        dev_user = np.flatnonzero(self.s_push)
        per = rng.choice([1, 2], len(dev_user), p=[0.75, 0.25])
        dev_user = np.repeat(dev_user, per)
        tok = rng.integers(0, 256, size=(len(dev_user), 32), dtype=np.uint8)
        T.append(Table("device_tokens", len(dev_user), [
            Column("id", "uuid", _u(rng, len(dev_user))),
            Column("user_id", "uuid", self.u_id[dev_user]),
            Column("token", "text", [bytes(r).hex() for r in tok]),
            Column("platform", "text", np.array(["ios", "android", "web"], dtype=object)[
                rng.choice(3, len(dev_user), p=[0.5, 0.42, 0.08])]),
            Column("created_at", "ts", self.u_created[dev_user]),
            Column("last_seen_at", "ts", self.now - rng.integers(0, 20 * DAY, len(dev_user))),
        ]))
        T.append(Table("friendships", len(self.fr_user), [
            Column("user_id", "uuid", self.u_id[self.fr_user]),
            Column("friend_id", "uuid", self.u_id[self.fr_friend]),
            Column("status", "text", self.fr_status),
            Column("is_close_friend", "bool", self.fr_close),
            Column("created_at", "ts", self.fr_created),
        ]))
        T.append(Table("venues", nv, [
            Column("id", "uuid", self.v_id),
            Column("name", "text", self.v_name),
            Column("category", "text", np.array(CATEGORIES, dtype=object)[self.v_cat]),
            Column("city", "text", np.array([c[0] for c in self.cities], dtype=object)[self.v_city]),
            Column("timezone", "text", np.array([c[3] for c in self.cities], dtype=object)[self.v_city]),
            Column("address", "text", self.v_address),
            Column("lat", "float", self.v_lat),
            Column("lng", "float", self.v_lng),
            Column("is_featured", "bool", self.v_featured),
            Column("created_at", "ts", self.v_created),
        ]))
        T.append(Table("venue_owners", len(self.vo_venue), [
            Column("venue_id", "uuid", self.v_id[self.vo_venue]),
            Column("user_id", "uuid", self.u_id[self.vo_user]),
            Column("role", "text", self.vo_role),
            Column("created_at", "ts", self.vo_created),
        ]))
        T.append(Table("check_ins", len(self.ci_id), [
            Column("id", "uuid", self.ci_id),
            Column("user_id", "uuid", self.u_id[self.ci_user]),
            Column("venue_id", "uuid", self.v_id[self.ci_venue]),
            Column("checked_in_at", "ts", self.ci_at),
            Column("checked_out_at", "ts", self.ci_out, self.ci_active),
            Column("is_active", "bool", self.ci_active),
        ]))
        T.append(Table("reviews", len(self.rv_id), [
            Column("id", "uuid", self.rv_id),
            Column("user_id", "uuid", self.u_id[self.rv_user]),
            Column("venue_id", "uuid", self.v_id[self.rv_venue]),
            Column("rating", "int", self.rv_rating),
            Column("body", "text", self.rv_body),
            Column("is_verified", "bool", self.rv_verified),
            Column("helpful_count", "int", self.rv_helpful),
            Column("created_at", "ts", self.rv_at),
            Column("updated_at", "ts", self.rv_updated),
        ]))
        T.append(Table("favorites", len(self.fav_user), [
            Column("user_id", "uuid", self.u_id[self.fav_user]),
            Column("venue_id", "uuid", self.v_id[self.fav_venue]),
            Column("created_at", "ts", self.fav_at),
        ]))
        T.append(Table("collections", len(self.col_id), [
            Column("id", "uuid", self.col_id),
            Column("user_id", "uuid", self.u_id[self.col_user]),
            Column("name", "text", self.col_name),
            Column("visibility", "text", self.col_vis),
            Column("created_at", "ts", self.col_created),
        ]))
        T.append(Table("collection_venues", len(self.cv_col), [
            Column("collection_id", "uuid", self.col_id[self.cv_col]),
            Column("venue_id", "uuid", self.v_id[self.cv_venue]),
            Column("added_at", "ts", self.cv_added),
        ]))
        no_push = ~self.of_push_sent
        T.append(Table("flash_offers", len(self.of_id), [
            Column("id", "uuid", self.of_id),
            Column("venue_id", "uuid", self.v_id[self.of_venue]),
            Column("title", "text", self.of_title),
            Column("description", "text", self.of_desc),
            Column("value_cap", "text", [c or "" for c in self.of_cap],
                   np.array([c is None for c in self.of_cap], dtype=bool)),
            Column("max_claims", "int", self.of_max),
            Column("start_time", "ts", self.of_start),
            Column("end_time", "ts", self.of_end),
            Column("radius_miles", "float", self.of_radius),
            Column("target_favorites_only", "bool", self.of_fav_only),
            Column("push_sent", "bool", self.of_push_sent),
            Column("push_sent_at", "ts", self.of_push_at, no_push),
            Column("push_recipient_count", "int", self.of_recipients),
            Column("created_at", "ts", self.of_created),
            Column("updated_at", "ts", np.where(no_push, self.of_created, self.of_push_at)),
        ]))
        not_red = ~self.cl_redeemed
        T.append(Table("flash_offer_claims", len(self.cl_id), [
            Column("id", "uuid", self.cl_id),
            Column("offer_id", "uuid", self.of_id[self.cl_offer]),
            Column("user_id", "uuid", self.u_id[self.cl_user]),
            Column("token", "text", self.cl_token),
            Column("status", "text", self.cl_status),
            Column("redeemed_at", "ts", self.cl_redeemed_at, not_red),
            Column("redeemed_by_user_id", "uuid", self.u_id[self.cl_staff], not_red),
            Column("expires_at", "ts", self.cl_expires),
            Column("created_at", "ts", self.cl_at),
        ]))
        T.append(self._event_table(strategy))
        T.append(self._notification_table())
        T.append(Table("query_performance_log", len(self.qp_id), [
            Column("id", "uuid", self.qp_id),
            Column("query_name", "text", self.qp_name),
            Column("execution_time_ms", "float", self.qp_ms),
            Column("row_count", "int", self.qp_rows),
            Column("user_id", "uuid", self.u_id[self.qp_user], self.qp_user_null),
            Column("created_at", "ts", self.qp_at),
        ]))
        return T

    def _event_table(self, strategy: str) -> Table:
        evs = [e for e in self._events if e["rows"] and not (strategy == "triggers" and e["trigger_written"])]

        def cat_col(key, fill):
            return np.concatenate([fill(e) for e in evs]) if evs else np.empty(0)

        n = sum(e["rows"] for e in evs)
        created = cat_col("created", lambda e: e["created"]).astype(np.int64)
        order = np.argsort(created, kind="stable")

        counts = [e["rows"] for e in evs]

        def per_segment(key):
            return np.repeat(np.array([e[key] for e in evs], dtype=object), counts)[order]

        event_type, category, target_type = per_segment("event_type"), per_segment("category"), \
            per_segment("target_type")
        user = cat_col("user", lambda e: e["user"]).astype(np.int64)[order]
        target = np.concatenate([e["target_id"] for e in evs])[order] if evs else np.empty((0, 16), np.uint8)
        venue_idx = cat_col("venue", lambda e: np.full(e["rows"], -1) if e["venue"] is None
                            else np.asarray(e["venue"])).astype(np.int64)[order]
        source = (np.concatenate([np.zeros((e["rows"], 16), np.uint8) if e["source"] is None else e["source"]
                                  for e in evs])[order] if evs else np.empty((0, 16), np.uint8))
        source_null = cat_col("sn", lambda e: np.full(e["rows"], e["source"] is None)).astype(bool)[order]
        vis = cat_col("visibility", lambda e: e["visibility"])[order]
        meta = cat_col("metadata", lambda e: np.repeat(np.array(["{}"], dtype=object), e["rows"])
                       if e["metadata"] is None else e["metadata"])[order]
        analytics = cat_col("analytics", lambda e: np.full(e["rows"], e["analytics"])).astype(bool)[order]
        self.ev_id = _u(self._rng["events"], n)
        return Table("event_stream", n, [
            Column("id", "uuid", self.ev_id),
            Column("event_type", "text", event_type),
            Column("category", "text", category),
            Column("user_id", "uuid", self.u_id[user]),
            Column("target_type", "text", target_type),
            Column("target_id", "uuid", target),
            Column("venue_id", "uuid", self.v_id[np.maximum(venue_idx, 0)], venue_idx < 0),
            Column("source_id", "uuid", source, source_null),
            Column("visibility", "text", vis),
            Column("metadata", "text", meta),
            Column("is_analytics_event", "bool", analytics),
            Column("created_at", "ts", created[order]),
        ])

    def _notification_table(self) -> Table:
        # offer pushes
        po, pu = self.push_offer, self.push_user
        kp = len(pu)
        offer_title = np.array(self.of_title, dtype=object)
        vname = np.array(self.v_name, dtype=object)
        p_title = np.array([f"{v}: {t}"[:200] for v, t in zip(vname[self.of_venue[po]], offer_title[po],
                                                               strict=True)], dtype=object)
        p_body = np.array([f"Nearby now, until {s[11:16]} UTC. Tap to claim."
                           for s in ts_strings(self.of_end[po])], dtype=object)
        p_created = self.of_push_at[po]
        p_data = np.array([f'{{"offer_id": "{s}"}}' for s in uuid_strings(self.of_id[po])], dtype=object)
        # other notifications
        ko = len(self.on_user)
        o_title = np.array([{"friend_request": "New friend request", "venue_share": "A friend shared a venue",
                             "collection_activity": "Activity in your collection",
                             "review_response": "The venue replied to your review",
                             "check_in_nearby": "A friend checked in nearby",
                             "system": "What's new in the app"}[c] for c in self.on_cat], dtype=object)
        o_body = np.array(["Open the app to see more."] * ko, dtype=object)
        user = np.concatenate([pu, self.on_user])
        created = np.concatenate([p_created, self.on_created]).astype(np.int64)
        read_at = np.concatenate([self.push_read, self.on_read_at]).astype(np.int64)
        click_at = np.concatenate([self.push_click, self.on_click_at]).astype(np.int64)
        expires = np.concatenate([self.of_end[po], self.on_expires]).astype(np.int64)
        expires_null = np.concatenate([np.zeros(kp, bool), self.on_expires == 0])
        ref = np.concatenate([self.of_id[po], self.on_ref])
        ref_null = np.concatenate([np.zeros(kp, bool), ~self.on_has_ref])
        ref_kind = np.concatenate([np.full(kp, "flash_offer", dtype=object), self.on_ref_kind])
        actor = np.concatenate([np.full(kp, -1), self.on_actor]).astype(np.int64)
        venue = np.concatenate([self.of_venue[po], np.full(ko, -1)]).astype(np.int64)
        cat = np.concatenate([np.full(kp, "flash_offer", dtype=object), self.on_cat])
        title = np.concatenate([p_title, o_title])
        body = np.concatenate([p_body, o_body])
        data = np.concatenate([p_data, np.full(ko, "{}", dtype=object)])
        push, in_app, email = self.s_push[user], self.s_in_app[user], self.s_email[user]
        tf = np.array(["false", "true"], dtype=object)
        channels = [f'{{"push": {a}, "in_app": {b}, "email": {c}}}'
                    for a, b, c in zip(tf[push.astype(int)], tf[in_app.astype(int)], tf[email.astype(int)],
                                       strict=True)]
        cstr = ts_strings(created)
        delivered = []
        for a, b, c, s in zip(push.tolist(), in_app.tolist(), email.tolist(), cstr, strict=True):
            parts = ([f'"push": "{s}"'] if a else []) + ([f'"in_app": "{s}"'] if b else []) \
                + ([f'"email": "{s}"'] if c else [])
            delivered.append("{" + ", ".join(parts) + "}")
        order = np.argsort(created, kind="stable")
        n = len(user)
        self.nt_id = _u(self._rng["notifications"], n)

        def o(x):
            return [x[i] for i in order.tolist()] if isinstance(x, list) else x[order]

        return Table("notifications", n, [
            Column("id", "uuid", self.nt_id),
            Column("user_id", "uuid", self.u_id[user][order]),
            Column("category", "text", o(cat)),
            Column("title", "text", o(title)),
            Column("body", "text", o(body)),
            Column("channels", "text", o(channels)),
            Column("delivered_at", "text", o(delivered)),
            Column("read", "bool", o(read_at > 0)),
            Column("read_at", "ts", o(read_at), o(read_at == 0)),
            Column("clicked", "bool", o(click_at > 0)),
            Column("clicked_at", "ts", o(click_at), o(click_at == 0)),
            Column("actor_id", "uuid", self.u_id[np.maximum(actor, 0)][order], o(actor < 0)),
            Column("reference_id", "uuid", o(ref), o(ref_null)),
            Column("reference_type", "text", o(ref_kind), o(ref_null)),
            Column("venue_id", "uuid", self.v_id[np.maximum(venue, 0)][order], o(venue < 0)),
            Column("data", "text", o(data)),
            Column("created_at", "ts", o(created)),
            Column("expires_at", "ts", o(expires), o(expires_null)),
            Column("is_expired", "bool", o(~expires_null & (expires <= self.now))),
        ])
