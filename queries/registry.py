"""Named queries: SQL lives in ``queries/sql/<subject>.sql``, one ``-- name: subject.query --`` header per query.

A header may be followed by option lines before the SQL::

    -- name: venues.featured --
    -- cache: 600 venues          (TTL in seconds, then the tags that invalidate it)
    -- timeout: 2s                (statement_timeout for this query; default by kind)
    -- kind: read|write|maintenance
    SELECT ... WHERE is_featured LIMIT %(limit)s

Parameters are psycopg named placeholders (``%(name)s``) and are always bound, never formatted in.
Each statement carries a sqlcommenter-style tag so pg_stat_statements rows map back to names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

_HEADER = re.compile(r"^--\s*name:\s*([a-z0-9_]+\.[a-z0-9_.]+)\s*--\s*$", re.MULTILINE)
_OPTION = re.compile(r"^--\s*(cache|timeout|kind):\s*(.*?)\s*$")

DEFAULT_TIMEOUTS_MS = {"read": 15_000, "write": 30_000, "maintenance": 0}


@dataclass(frozen=True)
class NamedQuery:
    name: str
    sql: str  # as written, without the tag
    kind: str = "read"
    timeout_ms: int = 15_000
    cache_ttl: float | None = None
    cache_tags: tuple[str, ...] = field(default_factory=tuple)
    source: str = ""

    @property
    def subject(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def tagged_sql(self) -> str:
        """The SQL with its name as a trailing comment (sqlcommenter style)."""
        return f"{self.sql.rstrip().rstrip(';')}\n/*query_name='{self.name}'*/"


def _timeout_ms(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|min)?", text)
    if not m:
        raise ValueError(f"bad timeout {text!r}")
    value, unit = float(m.group(1)), m.group(2) or "ms"
    return int(value * {"ms": 1, "s": 1000, "min": 60_000}[unit])


def parse(text: str, source: str = "") -> dict[str, NamedQuery]:
    """Named queries of one .sql file."""
    out: dict[str, NamedQuery] = {}
    parts = _HEADER.split(text)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        kind, timeout, ttl, tags = "read", None, None, ()
        sql_lines = []
        for line in body.strip("\n").splitlines():
            m = _OPTION.match(line)
            if m and not sql_lines:
                key, value = m.groups()
                if key == "kind":
                    kind = value
                elif key == "timeout":
                    timeout = _timeout_ms(value)
                else:
                    first, *rest = value.split()
                    ttl, tags = float(first), tuple(rest)
            else:
                sql_lines.append(line)
        sql = "\n".join(sql_lines).strip()
        if name in out:
            raise ValueError(f"query {name} is defined twice in {source}")
        if not sql:
            raise ValueError(f"query {name} in {source} has no SQL")
        if kind not in DEFAULT_TIMEOUTS_MS:
            raise ValueError(f"query {name} in {source}: unknown kind {kind!r}")
        out[name] = NamedQuery(name, sql, kind, DEFAULT_TIMEOUTS_MS[kind] if timeout is None else timeout,
                               ttl, tags, source)
    return out


@cache
def registry() -> dict[str, NamedQuery]:
    """Every named query shipped in ``queries/sql``."""
    out: dict[str, NamedQuery] = {}
    for entry in sorted(resources.files("queries").joinpath("sql").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        for name, q in parse(entry.read_text(encoding="utf-8"), entry.name).items():
            if name in out:
                raise ValueError(f"query {name} is defined in both {out[name].source} and {entry.name}")
            out[name] = q
    return out


def get(name: str) -> NamedQuery:
    try:
        return registry()[name]
    except KeyError:
        raise KeyError(f"no named query {name!r}") from None
