"""Live traffic: the app's users acting through the database contract, so the dashboard moves.

``simulate(url, rate=5.0, duration=None, stop_event=None)`` performs about ``rate`` actions per second
(Poisson arrivals) until ``duration`` seconds pass, ``stop_event`` is set or the process is interrupted:
check-ins and check-outs, reviews, favorites, offer views/clicks/claims/redemptions, notifications read
and clicked, and now and then a venue starting a new flash offer.  Refusals from the contract
(``offer_full``, ``already_claimed``, ``claim_expired`` ...) are normal traffic: counted by reason.
Every action is a named query through :class:`queries.runner.Database`, so its timing lands in
query_performance_log like the app's own.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from venuepulse.errors import DatabaseUnavailable, QueryError, VenuePulseError
from venuepulse.queries.core.runner import Database

# action -> relative frequency
WEIGHTS: dict[str, float] = {
    "check_in": 30, "check_out": 14, "offer_view": 18, "offer_click": 7, "claim": 6, "redeem": 4,
    "review": 4, "favorite": 4, "read_notification": 9, "click_notification": 4,
}
REVIEW_BODIES = ["Great spot, would come again.", "Fine, a bit crowded.", "Friendly staff.",
                 "Not my favourite.", "Loved the atmosphere!"]
OFFER_TITLES = ["Happy hour: 2 for 1", "20% off right now", "Free dessert with a main", "Half-price cocktails"]
OFFERS_REFRESH_S = 10.0
USERS_REFRESH_S = 120.0
MIN_LIVE_OFFERS = 3


class Skip(Exception):
    """Nothing to act on for this action right now (no active check-in, no unread notification ...)."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


class Simulator:
    def __init__(self, db: Database, rng: random.Random):
        self.db = db
        self.rng = rng
        self.users: list[Any] = []
        self.venues: list[Any] = []
        self.venue_cum: list[float] = []
        self.offers: list[dict[str, Any]] = []
        self.actions: Counter[str] = Counter()
        self._users_at = self._offers_at = -1e18

    # -- what exists ---------------------------------------------------------------------------------------

    def refresh(self, now: float) -> None:
        if now - self._users_at >= USERS_REFRESH_S:
            self.users = [r["id"] for r in self.db.run("simulate.users")]
            venues = self.db.run("simulate.venues")
            self.venues = [r["id"] for r in venues]
            self.venue_cum = list(itertools.accumulate(1.0 + r["total_check_in_count"] for r in venues))
            self._users_at = now
            if not self.users or not self.venues:
                raise VenuePulseError("the database has no users or venues to simulate; run 'venuepulse seed' first")
        if now - self._offers_at >= OFFERS_REFRESH_S:
            self.offers = self.db.run("simulate.live_offers")
            self._offers_at = now

    def user(self) -> Any:
        return self.rng.choice(self.users)

    def venue(self) -> Any:
        """Popular venues get most of the traffic."""
        return self.rng.choices(self.venues, cum_weights=self.venue_cum)[0]

    def offer(self) -> dict[str, Any]:
        if len(self.offers) < MIN_LIVE_OFFERS:
            self.new_offer()
        return self.rng.choice(self.offers)

    def audience(self, offer_id: Any) -> Any:
        """Mostly someone the offer was pushed to; sometimes anyone browsing."""
        if self.rng.random() < 0.8:
            u = self.db.scalar("simulate.offer_audience", {"offer_id": offer_id})
            if u is not None:
                return u
        return self.user()

    def new_offer(self) -> str:
        venue = self.venue()
        title = self.rng.choice(OFFER_TITLES)
        self.db.run("simulate.new_offer", {
            "venue_id": venue, "title": title, "description": f"{title} while it lasts.",
            "max_claims": self.rng.choice([5, 10, 20]), "duration": f"{self.rng.choice([1, 2, 3])} hours",
            "radius": self.rng.choice([1.0, 2.0, 3.0])})
        self.actions["new_offer"] += 1
        self.offers = self.db.run("simulate.live_offers")
        self._offers_at = time.monotonic()
        return "new_offer"

    # -- actions -------------------------------------------------------------------------------------------

    def check_in(self) -> str:
        self.db.run("simulate.check_in", {"user_id": self.user(), "venue_id": self.venue()})
        return "check_in"

    def check_out(self) -> str:
        ci = self.db.scalar("simulate.active_check_in")
        if ci is None:
            raise Skip("no_active_check_in")
        self.db.run("simulate.check_out", {"check_in_id": ci})
        return "check_out"

    def _offer_event(self, kind: str) -> str:
        o = self.offer()
        self.db.run("simulate.offer_event", {"offer_id": o["id"], "user_id": self.audience(o["id"]), "kind": kind})
        return f"offer_{kind}"

    def offer_view(self) -> str:
        return self._offer_event("view")

    def offer_click(self) -> str:
        return self._offer_event("click")

    def claim(self) -> str:
        o = self.offer()
        self.db.run("simulate.claim", {"offer_id": o["id"], "user_id": self.audience(o["id"])})
        return "claim"

    def redeem(self) -> str:
        roll = self.rng.random()
        if roll < 0.05:  # the same code shown twice
            c = self.db.one("simulate.redeemed_claim")
        else:
            c = self.db.one("simulate.redeemable_claim")
        if c is None:
            raise Skip("no_claim_to_redeem")
        token = c["token"]
        if 0.05 <= roll < 0.09:  # a typo at the till
            token = token[:-1] + ("A" if token[-1] != "A" else "B")
        self.db.run("simulate.redeem", {"offer_id": c["offer_id"], "token": token, "staff_id": c["staff_id"]})
        return "redeem"

    def review(self) -> str:
        c = self.db.one("simulate.review_candidate")
        if c is None:
            raise Skip("no_review_candidate")
        row = self.db.one("simulate.add_review", {
            "user_id": c["user_id"], "venue_id": c["venue_id"], "noise": self.rng.gauss(0.0, 0.9),
            "body": self.rng.choice(REVIEW_BODIES)})
        if row is None:
            raise Skip("already_reviewed")
        return "review"

    def favorite(self) -> str:
        if self.db.one("simulate.add_favorite", {"user_id": self.user(), "venue_id": self.venue()}) is None:
            raise Skip("already_favorite")
        return "favorite"

    def read_notification(self) -> str:
        if self.db.one("simulate.read_notification", {"user_id": self.user()}) is None:
            raise Skip("nothing_unread")
        return "read_notification"

    def click_notification(self) -> str:
        if self.db.one("simulate.click_notification", {"user_id": self.user()}) is None:
            raise Skip("nothing_to_click")
        return "click_notification"


def simulate(url: str, rate: float = 5.0, duration: float | None = None,
             stop_event: threading.Event | None = None, *, seed: int | None = None,
             report: Callable[[dict[str, Any]], None] | None = None, report_every: float = 5.0,
             weights: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Produce live traffic until stopped; returns counts of actions, refusals by reason and skips.

    ``report`` (if given) is called with the running totals every ``report_every`` seconds.
    ``weights`` changes the mix of actions (names as in ``WEIGHTS``; default: ``WEIGHTS``), e.g.
    ``{"claim": 1}`` for a rush on the offers.
    """
    if not isinstance(rate, int | float) or not (0 < rate <= 10_000):
        raise VenuePulseError(f"--rate must be between 0 and 10000 events per second, not {rate!r}")
    if duration is not None and (not isinstance(duration, int | float) or duration <= 0):
        raise VenuePulseError(f"--duration must be a positive number of seconds, not {duration!r}")
    stop = stop_event or threading.Event()
    rng = random.Random(seed)
    actions: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    mix = dict(WEIGHTS if weights is None else weights)
    unknown = sorted(set(mix) - set(WEIGHTS))
    if unknown or not mix or any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
        raise VenuePulseError(f"weights must give non-negative frequencies to some of {', '.join(WEIGHTS)}"
                              + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    names = list(mix)
    cum = list(itertools.accumulate(mix.values()))
    started = time.monotonic()
    deadline = started + duration if duration is not None else None
    next_report = started + report_every

    def totals() -> dict[str, Any]:
        elapsed = time.monotonic() - started
        done = sum(actions.values()) + sum(refusals.values())
        return {"actions": dict(actions), "refusals": dict(refusals), "skipped": dict(skipped),
                "errors": dict(errors), "events": done, "seconds": round(elapsed, 3),
                "events_per_second": round(done / elapsed, 2) if elapsed > 0 else 0.0}

    with Database(url, min_size=1, max_size=2, application_name="venuepulse-simulate") as db:
        sim = Simulator(db, rng)
        sim.actions = actions
        sim.refresh(time.monotonic())
        next_at = time.monotonic()
        try:
            while not stop.is_set():
                next_at += rng.expovariate(rate)
                if deadline is not None and next_at >= deadline:
                    stop.wait(max(0.0, deadline - time.monotonic()))
                    break
                if stop.wait(max(0.0, next_at - time.monotonic())):
                    break
                action = rng.choices(names, cum_weights=cum)[0]
                try:
                    sim.refresh(time.monotonic())
                    actions[getattr(sim, action)()] += 1
                except Skip as s:
                    skipped[s.why] += 1
                except QueryError as exc:
                    if exc.reason:
                        refusals[exc.reason] += 1
                    else:
                        errors[f"{action}: {exc}"] += 1
                except DatabaseUnavailable as exc:
                    errors[f"unavailable: {exc}"] += 1
                    stop.wait(1.0)
                    next_at = time.monotonic()
                if report is not None and time.monotonic() >= next_report:
                    report(totals())
                    next_report += report_every
        except KeyboardInterrupt:
            pass
    return totals()
