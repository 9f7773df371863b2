"""Offers: the offers of a period with live status, and the offer funnel (DESIGN.md, "Metric definitions").

Funnel of one offer, over its window W = [start_time, end_time), steps in order per user:

* **targeted** – ``push_recipient_count`` (how many users the offer's push went to);
* **viewed** – users with a ``flash_offer_view`` analytics event for the offer inside W;
* **clicked** – viewers with a ``flash_offer_click`` inside W at or after their first view;
* **claimed** – clickers whose claim was created inside W at or after their first such click;
* **redeemed** – claimers whose claim is redeemed.

Next to it, the raw counters (``view_count``, ``click_count``, ``claimed_count``, ``redeemed_count``)
count every event and claim, in any order and at any time.  Time to claim is ``claim.created_at`` minus
the user's first view; time to redeem is ``redeemed_at`` minus ``claim.created_at`` (over the users the
funnel counts).  An offer whose window is still open is *not final*.  Across several offers, unique users
are (user, offer) pairs and counters are sums.

Every function takes a database handle (anything with ``.run(name, params)``) and returns a DataFrame
or a plain dict.  Bad arguments raise ``ValueError`` naming the argument.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import pandas as pd

from venuepulse.queries.pages import common

STEPS = ("targeted", "viewed", "clicked", "claimed", "redeemed")
STEP_LABELS = {"targeted": "Targeted (push)", "viewed": "Viewed", "clicked": "Clicked",
               "claimed": "Claimed", "redeemed": "Redeemed"}
UNIQUE_COLUMNS = {"targeted": "targeted", "viewed": "viewed_users", "clicked": "clicked_users",
                  "claimed": "claimed_users", "redeemed": "redeemed_users"}
COUNTER_COLUMNS = {"targeted": "targeted", "viewed": "view_count", "clicked": "click_count",
                   "claimed": "claimed_count", "redeemed": "redeemed_count"}
MAX_LIST = 5000
FILTER_VENUES = 200  # more venues with offers than this: the page's venue filter becomes a search
MAX_VENUES = FILTER_VENUES + 1
SEARCH_VENUES = 50  # venues a search shows
LIST_LIMIT = 100  # the page's offer list and Offer select: the most recent offers of the period
TOP_OFFERS = 25  # the page's funnel by offer: the offers with the most claimed users (all on request)

_LIST_COLUMNS = ["offer_id", "title", "venue_id", "venue_name", "status", "window_open", "start_time", "end_time",
                 "max_claims", "push_sent", "push_sent_at", "push_recipient_count", "view_count", "click_count",
                 "claimed_count", "redeemed_count", "claims_left", "as_of"]
_FUNNEL_COLUMNS = ["offer_id", "title", "is_total", "offers", "offers_open", "is_final", "targeted", "viewed_users",
                   "clicked_users", "claimed_users", "redeemed_users", "view_count", "click_count",
                   "claimed_count", "redeemed_count", "time_to_claim_p50_s", "time_to_claim_p90_s",
                   "time_to_redeem_p50_s", "time_to_redeem_p90_s", "as_of"]
_DAY_COLUMNS = ["day", "viewed_users", "clicked_users", "claimed_users", "redeemed_users"]


# -- argument checks ---------------------------------------------------------------------------------------


def _uuid(name: str, value: Any) -> UUID | None:
    if value is None or value == "":
        return None
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a UUID, got {str(value)[:40]!r}") from None


# -- queries -----------------------------------------------------------------------------------------------


def venues_with_offers(db, *, q: str = "", venue_id: UUID | str | None = None,
                       limit: int = MAX_VENUES) -> pd.DataFrame:
    """Venues that have offers, by name: venue_id, name, city, offer_count; at most ``limit`` of them,
    those whose name or city contains ``q`` (case-insensitive), or only ``venue_id`` when given.  The page
    asks for FILTER_VENUES + 1 to learn whether its venue filter is a list or a search."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_LIST}, got {limit!r}")
    params = {"q": str(q or "").replace("\x00", "").strip()[:200], "venue_id": _uuid("venue_id", venue_id),
              "limit": limit}
    return common.frame(db.run("offers.venues", params), ["venue_id", "name", "city", "offer_count"])


def offer_list(db, start: datetime, end: datetime, *, venue_id: UUID | str | None = None,
               limit: int = LIST_LIMIT) -> pd.DataFrame:
    """Offers whose window overlaps [start, end), newest start first (at most ``limit``), with live
    ``status`` (scheduled / active / full / expired), ``window_open`` and the raw counters."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_LIST}, got {limit!r}")
    params = {**common.period(start, end), "venue_id": _uuid("venue_id", venue_id), "limit": limit}
    return common.frame(db.run("offers.list", params), _LIST_COLUMNS)


def funnel(db, start: datetime, end: datetime, *, venue_id: UUID | str | None = None,
           offer_id: UUID | str | None = None, top: int | None = None) -> dict[str, Any]:
    """The funnel of every offer of the period (optionally one venue's, or one offer).

    Returns ``{"offers": DataFrame, "best": DataFrame, "total": dict}``: ``offers`` has one row per offer,
    or with ``top`` only the ``top`` offers with the most claimed users (then viewed; the page's breakdown
    limit); ``best`` is :func:`best_converting` over every offer of the period; ``total`` is across every
    offer of the period whatever ``top`` is.
    Columns: offer_id, title (None in the total), targeted, viewed_users, clicked_users, claimed_users, redeemed_users (ordered unique-user
    funnel), view_count, click_count, claimed_count, redeemed_count (raw counters), is_final,
    offers, offers_open, time_to_claim_p50_s / _p90_s, time_to_redeem_p50_s / _p90_s (seconds, None when
    nobody got that far), as_of.
    """
    if top is not None and (not isinstance(top, int) or top < 1):
        raise ValueError(f"top must be a positive whole number or None, got {top!r}")
    params = {**common.period(start, end), "venue_id": _uuid("venue_id", venue_id),
              "offer_id": _uuid("offer_id", offer_id), "top": top, "best": BEST_OFFERS,
              "min_viewers": MIN_VIEWERS_TO_RANK}
    rows = db.run("offers.funnel", params)
    per_offer = [r for r in rows if not r["is_total"]]
    total = next((r for r in rows if r["is_total"]), None)
    if total is None:  # no offer at all: GROUPING SETS gives no total row over an empty input
        total = {c: 0 for c in _FUNNEL_COLUMNS}
        total.update(offer_id=None, title=None, is_total=True, is_final=True, time_to_claim_p50_s=None,
                     time_to_claim_p90_s=None, time_to_redeem_p50_s=None, time_to_redeem_p90_s=None,
                     as_of=None)
    total = {k: v for k, v in dict(total).items() if k != "in_top"}
    candidates = common.frame(per_offer, _FUNNEL_COLUMNS)
    shown = common.frame([r for r in per_offer if r["in_top"]], _FUNNEL_COLUMNS)
    if top is not None:
        shown = shown.sort_values(["claimed_users", "viewed_users", "offer_id"], ascending=[False, False, True],
                                  kind="stable").reset_index(drop=True)
    return {"offers": shown, "best": best_converting(candidates, BEST_OFFERS), "total": total}


def funnel_steps(row: dict[str, Any] | pd.Series) -> pd.DataFrame:
    """One funnel row as a table of steps: step, unique users and raw counter, each with its conversion
    relative to the first step (targeted) and to the previous step (None where that step is 0)."""
    out = []
    prev_u = prev_c = None
    first = int(row["targeted"] or 0)
    for step in STEPS:
        u = int(row[UNIQUE_COLUMNS[step]] or 0)
        c = int(row[COUNTER_COLUMNS[step]] or 0)
        out.append({
            "step": STEP_LABELS[step],
            "unique_users": u,
            "unique_of_first": common.ratio(u, first) if step != "targeted" else (1.0 if first else None),
            "unique_of_previous": common.ratio(u, prev_u) if prev_u is not None else None,
            "counter": c,
            "counter_of_first": common.ratio(c, first) if step != "targeted" else (1.0 if first else None),
            "counter_of_previous": common.ratio(c, prev_c) if prev_c is not None else None,
        })
        prev_u, prev_c = u, c
    return pd.DataFrame(out)


def conversion_by_day(db, start: datetime, end: datetime, *, venue_id: UUID | str | None = None,
                      offer_id: UUID | str | None = None) -> pd.DataFrame:
    """The ordered funnel grouped by the UTC day of each (user, offer) pair's first view inside
    [start, end): day, viewed/clicked/claimed/redeemed users, and the rates click_rate (clicked/viewed),
    claim_rate (claimed/viewed), redeem_rate (redeemed/claimed)."""
    params = {**common.period(start, end), "venue_id": _uuid("venue_id", venue_id),
              "offer_id": _uuid("offer_id", offer_id)}
    df = common.frame(db.run("offers.conversion_by_day", params), _DAY_COLUMNS)
    df["click_rate"] = [common.ratio(a, b) for a, b in zip(df["clicked_users"], df["viewed_users"], strict=True)]
    df["claim_rate"] = [common.ratio(a, b) for a, b in zip(df["claimed_users"], df["viewed_users"], strict=True)]
    df["redeem_rate"] = [common.ratio(a, b) for a, b in zip(df["redeemed_users"], df["claimed_users"], strict=True)]
    return df


def rollup_freshness(db) -> dict[str, Any]:
    """When the rollups behind this page were last folded (``folded_at``) and how many newer changes the
    numbers read live (``live_changes``, the oldest at ``oldest_live_at``): the numbers are exact and
    current either way (docs/rollups.md); a long tail only makes the page slower."""
    rows = db.run("rollups.freshness", {"consumer": "activity"})
    return rows[0] if rows else {"folded_at": None, "live_changes": 0, "oldest_live_at": None, "as_of": None}


_BENCHMARK_COLUMNS = ["offer_id", "title", "start_time", "claim_rate", "redeem_rate", "time_to_claim_s",
                      "peer_scope", "peer_venues", "claim_rate_p25", "claim_rate_p50", "claim_rate_p75",
                      "redeem_rate_p25", "redeem_rate_p50", "redeem_rate_p75", "time_to_claim_p25_s",
                      "time_to_claim_p50_s", "time_to_claim_p75_s"]
MIN_PEER_VENUES = 5  # vp_offer_benchmarks answers only over at least this many other venues
PEER_SCOPES = {"category_city": "same category and city", "category": "same category, any city",
               "city": "same city, any category", "all": "all categories and cities"}


def benchmarks(db, offer_ids) -> pd.DataFrame:
    """How each of ``offer_ids`` compares with similar offers of at least 5 other venues (migration 0009).

    One row per given offer of the connection's venue scope (other ids are ignored by the database):
    the offer's claim_rate (claims / views), redeem_rate (redemptions / claims) and time_to_claim_s (median
    seconds from the offer's start to a claim), and the peers' quartiles of each (``*_p25/_p50/_p75``),
    ``peer_scope`` (a PEER_SCOPES key) and ``peer_venues``; peer columns are None when fewer than 5 similar
    venues have that number."""
    ids = [_uuid("offer_ids", v) for v in offer_ids]
    return common.frame(db.run("offers.benchmarks", {"offer_ids": ids}), _BENCHMARK_COLUMNS)


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MIN_VIEWERS_TO_RANK = 5  # an offer seen by fewer people says little about what converts
BEST_OFFERS = 5  # the page's "best converting offers"


def when_it_works(db, start: datetime, end: datetime, *, venue_id: UUID | str | None = None) -> pd.DataFrame:
    """Claims and redemptions of the period's offers by local time: kind ('claims' / 'redemptions'),
    weekday (1 = Monday ... 7), hour (0-23, in each venue's time zone) and n."""
    params = {**common.period(start, end), "venue_id": _uuid("venue_id", venue_id)}
    return common.frame(db.run("offers.when", params), ["kind", "weekday", "hour", "n"])


def best_converting(per_offer: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` offers of a :func:`funnel` result with the highest claimed ÷ viewed (users, in order), among
    those with at least MIN_VIEWERS_TO_RANK viewers; ties go to more claims.  Adds claim_rate, redeem_rate."""
    df = per_offer[per_offer["viewed_users"].fillna(0) >= MIN_VIEWERS_TO_RANK].copy()
    df["claim_rate"] = [common.ratio(a, b) for a, b in zip(df["claimed_users"], df["viewed_users"], strict=True)]
    df["redeem_rate"] = [common.ratio(a, b) for a, b in zip(df["redeemed_users"], df["claimed_users"], strict=True)]
    return df.sort_values(["claim_rate", "claimed_users"], ascending=False, kind="stable").head(n)
