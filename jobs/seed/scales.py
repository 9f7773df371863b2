"""The four demo-data sizes and the knobs that make them realistic.

Everything else (reviews, favorites, offers, pushes, notifications, events) follows from these numbers, so
tables stay in proportion to check-ins across scales.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Scale:
    name: str
    users: int
    venues: int
    check_ins: int
    days: int                      # default length of the history, ending now
    cities: int                    # how many of CITIES the app is live in
    user_spread_miles: float       # std-dev of home locations around a city centre
    offers_per_venue_month: float  # flash offers a venue runs per 30 days
    notifications_per_check_in: float  # non-offer notifications (friend requests, shares, ...)
    query_log_rows: int            # query_performance_log history rows


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 600, 120, 10_000, 30, 3, 3.0, 0.4, 0.15, 20_000),
    "small": Scale("small", 12_000, 1_500, 200_000, 90, 6, 8.0, 0.12, 0.15, 100_000),
    "medium": Scale("medium", 120_000, 12_000, 2_000_000, 180, 12, 14.0, 0.06, 0.15, 400_000),
    "large": Scale("large", 1_000_000, 80_000, 20_000_000, 365, 16, 25.0, 0.02, 0.15, 1_000_000),
}


def get_scale(name: str) -> Scale:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}") from None


def with_longer_history(scale: Scale, factor: int) -> Scale:
    """The same business (users, venues, cities, rates) with ``factor`` times the history: the days and the
    check-ins grow together, so each day looks alike and only the history's length changes (the bench's
    "history" scenario). The query log keeps its own 14 days, as its retention would."""
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f"the history factor must be a whole number of at least 1, not {factor!r}")
    if factor == 1:
        return scale
    return replace(scale, name=f"{scale.name}-history-x{factor}", days=scale.days * factor,
                   check_ins=scale.check_ins * factor)
