"""The dashboard's pages and who may open them (DESIGN.md, "Dashboard")."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from venuepulse.queries.access import ROLES


@dataclass(frozen=True)
class PageSpec:
    key: str  # url path and module name under dashboard.views
    title: str
    icon: str
    roles: tuple[str, ...]

    def render_function(self):
        return importlib.import_module(f"venuepulse.dashboard.views.{self.key}").render


PAGES: tuple[PageSpec, ...] = (
    PageSpec("overview", "Overview", ":material/dashboard:", ROLES),
    PageSpec("venues", "Venues", ":material/storefront:", ROLES),
    PageSpec("engagement", "Engagement", ":material/favorite:", ("pm", "engineer")),
    PageSpec("offers", "Offers", ":material/local_offer:", ROLES),
    PageSpec("query_performance", "Query performance", ":material/speed:", ("engineer",)),
    PageSpec("jobs_health", "Jobs & health", ":material/monitor_heart:", ("engineer",)),
    PageSpec("database_health", "Database health", ":material/database:", ("engineer",)),
    # product managers see it read-only; venue owners' reports are issue 17's
    PageSpec("alerts", "Alerts", ":material/notifications_active:", ("engineer", "pm")),
)


def pages_for(role: str) -> list[PageSpec]:
    return [p for p in PAGES if role in p.roles]
