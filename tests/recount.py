"""Brute-force recounts in Python of every denormalized number, from the raw rows that exist now.

These are the metric definitions of DESIGN.md written the slow, obvious way; tests compare the
database's stored numbers (triggers, venue_stats, reconcile) against them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal


def _rows(conn, sql: str) -> list[dict]:
    cur = conn.execute(sql)
    cols = [d.name for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def snapshot(conn) -> dict[str, list[dict]]:
    """Every raw row the metrics depend on."""
    return {
        "venues": _rows(conn, "SELECT id, name FROM venues"),
        "users": _rows(conn, "SELECT id FROM users"),
        "check_ins": _rows(conn, "SELECT id, user_id, venue_id, checked_in_at, is_active FROM check_ins"),
        "reviews": _rows(conn, "SELECT id, user_id, venue_id, rating, is_verified, created_at FROM reviews"),
        "favorites": _rows(conn, "SELECT user_id, venue_id, created_at FROM favorites"),
        "collections": _rows(conn, "SELECT id, user_id FROM collections"),
        "collection_venues": _rows(conn, "SELECT collection_id, venue_id, added_at FROM collection_venues"),
        "offers": _rows(conn, "SELECT id, venue_id FROM flash_offers"),
        "claims": _rows(conn, "SELECT id, offer_id, user_id, status, created_at FROM flash_offer_claims"),
        "offer_events": _rows(
            conn,
            "SELECT target_id, event_type FROM event_stream WHERE is_analytics_event AND target_type = 'offer'",
        ),
    }


def venue_counters(s) -> dict:
    out = {v["id"]: {"active_check_in_count": 0, "total_check_in_count": 0, "last_check_in_at": None}
           for v in s["venues"]}
    for c in s["check_ins"]:
        o = out[c["venue_id"]]
        o["total_check_in_count"] += 1
        o["active_check_in_count"] += 1 if c["is_active"] else 0
        if o["last_check_in_at"] is None or c["checked_in_at"] > o["last_check_in_at"]:
            o["last_check_in_at"] = c["checked_in_at"]
    return out


def offer_counters(s) -> dict:
    out = {o["id"]: {"claimed_count": 0, "redeemed_count": 0, "view_count": 0, "click_count": 0}
           for o in s["offers"]}
    for c in s["claims"]:
        out[c["offer_id"]]["claimed_count"] += 1
        out[c["offer_id"]]["redeemed_count"] += 1 if c["status"] == "redeemed" else 0
    for e in s["offer_events"]:
        if e["target_id"] in out:
            if e["event_type"] == "flash_offer_view":
                out[e["target_id"]]["view_count"] += 1
            elif e["event_type"] == "flash_offer_click":
                out[e["target_id"]]["click_count"] += 1
    return out


def _mx(a, b):
    return b if a is None or (b is not None and b > a) else a


def _mn(a, b):
    return b if a is None or (b is not None and b < a) else a


def venue_interactions(s) -> dict:
    """(user_id, venue_id) -> the review's columns, for every pair with any interaction."""
    blank = lambda: {  # noqa: E731
        "check_in_count": 0, "last_check_in_at": None, "review_count": 0, "last_review_at": None,
        "current_rating": None, "is_favorited": False, "favorited_at": None, "collection_count": 0,
        "flash_offer_claim_count": 0, "last_claim_at": None, "first": None, "last": None,
    }
    out: dict = defaultdict(blank)
    for c in s["check_ins"]:
        r = out[(c["user_id"], c["venue_id"])]
        r["check_in_count"] += 1
        r["last_check_in_at"] = _mx(r["last_check_in_at"], c["checked_in_at"])
        r["first"], r["last"] = _mn(r["first"], c["checked_in_at"]), _mx(r["last"], c["checked_in_at"])
    for v in s["reviews"]:
        r = out[(v["user_id"], v["venue_id"])]
        r["review_count"] += 1
        r["last_review_at"] = v["created_at"]
        r["current_rating"] = v["rating"]
        r["first"], r["last"] = _mn(r["first"], v["created_at"]), _mx(r["last"], v["created_at"])
    for f in s["favorites"]:
        r = out[(f["user_id"], f["venue_id"])]
        r["is_favorited"] = True
        r["favorited_at"] = f["created_at"]
        r["first"], r["last"] = _mn(r["first"], f["created_at"]), _mx(r["last"], f["created_at"])
    owner = {c["id"]: c["user_id"] for c in s["collections"]}
    for cv in s["collection_venues"]:
        r = out[(owner[cv["collection_id"]], cv["venue_id"])]
        r["collection_count"] += 1
        r["first"], r["last"] = _mn(r["first"], cv["added_at"]), _mx(r["last"], cv["added_at"])
    offer_venue = {o["id"]: o["venue_id"] for o in s["offers"]}
    for c in s["claims"]:
        r = out[(c["user_id"], offer_venue[c["offer_id"]])]
        r["flash_offer_claim_count"] += 1
        r["last_claim_at"] = _mx(r["last_claim_at"], c["created_at"])
        r["first"], r["last"] = _mn(r["first"], c["created_at"]), _mx(r["last"], c["created_at"])
    for r in out.values():
        r["engagement_score"] = (10 * r["check_in_count"] + 50 * r["review_count"]
                                 + (100 if r["is_favorited"] else 0) + 25 * r["collection_count"]
                                 + 5 * r["flash_offer_claim_count"])
        r["first_interaction_at"] = r.pop("first")
        r["last_interaction_at"] = r.pop("last")
    return dict(out)


def venue_stats(s, now: datetime) -> dict:
    """venue_id -> DESIGN.md's venue_stats metrics, as of ``now`` (the refresh time)."""
    out = {}
    offers_by_venue = defaultdict(set)
    for o in s["offers"]:
        offers_by_venue[o["venue_id"]].add(o["id"])
    owner_offer = {o["id"]: o["venue_id"] for o in s["offers"]}
    for v in s["venues"]:
        vid = v["id"]
        cis = [c for c in s["check_ins"] if c["venue_id"] == vid]
        rvs = [r for r in s["reviews"] if r["venue_id"] == vid]
        favs = {f["user_id"] for f in s["favorites"] if f["venue_id"] == vid}
        cols = {cv["collection_id"] for cv in s["collection_venues"] if cv["venue_id"] == vid}
        claimers = {c["user_id"] for c in s["claims"] if owner_offer[c["offer_id"]] == vid}
        total = len(cis)
        out[vid] = {
            "total_unique_visitors": len({c["user_id"] for c in cis}),
            "total_check_ins": total,
            "check_ins_last_7_days": sum(1 for c in cis if c["checked_in_at"] > now - timedelta(days=7)),
            "active_check_ins": sum(1 for c in cis if c["is_active"]),
            "review_count": len(rvs),
            "avg_rating": (Decimal(sum(r["rating"] for r in rvs)) / len(rvs)) if rvs else None,
            "verified_review_count": sum(1 for r in rvs if r["is_verified"]),
            "favorite_count": len(favs),
            "collection_count": len(cols),
            "flash_offer_count": len(offers_by_venue[vid]),
            "flash_offer_claim_count": len(claimers),
            "engagement_score": total + 5 * len(rvs) + 3 * len(favs) + 2 * len(claimers),
            "last_check_in_at": max((c["checked_in_at"] for c in cis), default=None),
            "last_review_at": max((r["created_at"] for r in rvs), default=None),
        }
    return out


def stored_venue_counters(conn) -> dict:
    return {r["id"]: {k: r[k] for k in ("active_check_in_count", "total_check_in_count", "last_check_in_at")}
            for r in _rows(conn, "SELECT id, active_check_in_count, total_check_in_count, last_check_in_at FROM venues")}


def stored_offer_counters(conn) -> dict:
    return {r["id"]: {k: r[k] for k in ("claimed_count", "redeemed_count", "view_count", "click_count")}
            for r in _rows(conn, "SELECT id, claimed_count, redeemed_count, view_count, click_count FROM flash_offers")}


def stored_venue_interactions(conn) -> dict:
    rows = _rows(conn, """SELECT user_id, venue_id, check_in_count, last_check_in_at, review_count, last_review_at,
                                 current_rating, is_favorited, favorited_at, collection_count,
                                 flash_offer_claim_count, last_claim_at, engagement_score,
                                 first_interaction_at, last_interaction_at
                          FROM venue_interactions""")
    return {(r.pop("user_id"), r.pop("venue_id")): r for r in rows}


def stored_venue_stats(conn) -> dict:
    rows = _rows(conn, """SELECT venue_id, total_unique_visitors, total_check_ins, check_ins_last_7_days,
                                 active_check_ins, review_count, avg_rating, verified_review_count,
                                 favorite_count, collection_count, flash_offer_count, flash_offer_claim_count,
                                 engagement_score, last_check_in_at, last_review_at FROM venue_stats""")
    return {r.pop("venue_id"): r for r in rows}
