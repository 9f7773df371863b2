"""What a page needs: who is signed in, and a database handle that already carries their scope."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from venuepulse.queries.core.runner import Database, RowShortcuts


@dataclass(frozen=True)
class Account:
    username: str
    role: str
    display_name: str = ""
    venue_ids: tuple[UUID, ...] = field(default_factory=tuple)

    @property
    def is_owner(self) -> bool:
        return self.role == "venue_owner"


class ScopedDatabase(RowShortcuts):
    """A Database whose every query runs with one account's scope and is recorded under its name.

    A venue owner's queries always carry the owner's venue ids (row-level security reads them), so no
    page can forget to pass them.
    """

    def __init__(self, db: Database, account: Account):
        self._db = db
        self.account = account
        self._scope = list(account.venue_ids) if account.is_owner else None

    def run(self, name: str, params: Any = None, **kw: Any) -> list[dict[str, Any]]:
        return self._db.run(name, params, venue_scope=self._scope, **kw)

    def __getattr__(self, item: str) -> Any:
        # explain, cache_stats and the like: engineers only, and they see all venues anyway
        if self.account.is_owner:
            raise AttributeError(f"{item} is not available to venue owners")
        return getattr(self._db, item)


@dataclass
class PageContext:
    account: Account
    db: ScopedDatabase
    reads: Any = None  # the ReadRouter behind ``db`` when the page reads through one (docs/scaling.md)


def dashboard_url() -> str:
    """The database URL the dashboard reads with (set by `venuepulse dashboard` / `up`)."""
    from venuepulse.config import get_database_url

    return os.environ.get("VENUEPULSE_DASHBOARD_DATABASE_URL") or get_database_url(None)


def owner_url() -> str:
    """The URL venue owners' queries use (a role subject to row-level security)."""
    return os.environ.get("VENUEPULSE_OWNER_DATABASE_URL") or dashboard_url()


def replica_url(role_url: str) -> str | None:
    """Where ``role_url``'s role reads on the replica: the read server's URL (``VENUEPULSE_READ_DATABASE_URL``
    or ``read_database_url`` in secrets.toml) with the role's user and password, since a streaming replica
    has the primary's roles. None when no read server is configured."""
    from urllib.parse import unquote, urlsplit

    from venuepulse.config import normalize_url, resolve_read_database_url
    from venuepulse.queries.access.roles import url_as

    read_url, _ = resolve_read_database_url()
    if not read_url:
        return None
    parts = urlsplit(normalize_url(role_url))
    if not parts.username:  # a URL without a user (libpq's default user): keep the read URL's
        return read_url
    return url_as(read_url, unquote(parts.username), unquote(parts.password) if parts.password else None)
