"""Error types raised by the queries layer, each carrying one readable sentence."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit, urlunsplit


class VenuePulseError(Exception):
    """Base class: the message is one sentence that can be shown to a person as is."""


class ConfigError(VenuePulseError):
    """The configuration (database URL, data directory, secrets file) is unusable."""


class DatabaseUnavailable(VenuePulseError):
    """The PostgreSQL server cannot be reached or refuses the connection."""

    @classmethod
    def lost(cls, operation: str, error: BaseException) -> DatabaseUnavailable:
        """The connection broke while ``operation`` ran."""
        return cls(f"lost the connection to PostgreSQL during {operation}: {_driver_message(error)}")


def first_line(value: BaseException | str | None) -> str:
    """The first line of a message or of an exception's text, stripped ("" when there is none)."""
    text = "" if value is None else str(value).strip()
    return text.splitlines()[0].strip() if text else ""


def error_line(exc: BaseException) -> str:
    """``"ZeroDivisionError: division by zero"``: the exception's class and the first line of its text."""
    line = first_line(exc)
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


_REASON_RE = re.compile(r"^([a-z][a-z0-9_]*)\b")


class QueryError(VenuePulseError):
    """A named query failed; ``reason`` is the contract's refusal word when there is one.

    Built as ``raise QueryError("offers.claim", exc) from exc``.
    """

    def __init__(self, operation: str, error: BaseException | str | None = None):
        self.operation = operation
        self.original = error if isinstance(error, BaseException) else None
        detail = _driver_message(error)
        self.reason = _reason_word(detail)
        self.detail = detail
        super().__init__(f"{operation} failed: {detail}" if detail else f"{operation} failed")


class QueryTimeout(QueryError):
    """A named query ran past its statement timeout and PostgreSQL cancelled it."""

    def __init__(self, operation: str, error: BaseException | str | None = None, timeout_ms: int | None = None):
        super().__init__(operation, error)
        self.timeout_ms = timeout_ms
        self.args = (f"{operation} took longer than its statement timeout and was cancelled",)


class UpgradeRefused(VenuePulseError):
    """A legacy-upgrade phase cannot run in the database's current state; the message says why and what to do."""


def _driver_message(error: BaseException | str | None) -> str:
    if error is None:
        return ""
    if isinstance(error, str):
        return first_line(error)
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if primary:
        return first_line(primary)
    return first_line(str(error)) or type(error).__name__


def _reason_word(message: str) -> str | None:
    """``offer_full: offer 12 has no claims left`` -> ``offer_full``; plain prose -> None."""
    m = _REASON_RE.match(message or "")
    if not m:
        return None
    word = m.group(1)
    rest = message[m.end():]
    # A contract refusal is a snake_case word standing alone or followed by ':'.
    if "_" in word and (rest == "" or rest.startswith(":")):
        return word
    return None


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (also a ``password=`` query parameter)."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            user, _, password = userinfo.partition(":")
            userinfo = f"{user}:***" if password else user
        netloc = f"{userinfo}@{hostport}"
    query = parts.query
    if query and "password=" in query.lower():
        query = re.sub(r"(?i)(^|&)(password)=[^&]*", r"\1\2=***", query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def describe_url(url: str) -> str:
    """``host:port/db`` (or ``socket dir/db``) for messages; never includes credentials."""
    try:
        parts = urlsplit(url)
        params = parse_qs(parts.query)
        host = parts.hostname or (params.get("host", [""])[0]) or "localhost"
        port = parts.port or (params.get("port", [""])[0]) or 5432
        db = parts.path.lstrip("/") or (params.get("dbname", [""])[0]) or (parts.username or "")
    except ValueError:
        return "the configured database"
    if host.startswith("/"):
        return f"{host} (unix socket)/{db}"
    return f"{host}:{port}/{db}"
