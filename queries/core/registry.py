"""Named queries: SQL lives in ``queries/sql/<subject>.sql``, one ``-- name: subject.query --`` header per query.

A header may be followed by option lines before the SQL::

    -- name: venues.featured --
    -- cache: 600 venues          (TTL in seconds, then the tags that invalidate it)
    -- timeout: 2s                (statement_timeout for this query; default by kind)
    -- kind: read|write|maintenance
    SELECT ... WHERE is_featured LIMIT %(limit)s

Parameters are psycopg named placeholders (``%(name)s``) and are always bound, never formatted in
(a literal ``%`` is written ``%%``). Give every placeholder an explicit cast where its type is not
obvious from context (``%(ids)s::uuid[]``): ``Database.explain`` prepares the statement without values.

Cache tags are exact words; a tag may name a parameter in braces (``venue:{venue_id}``), which is
filled from the run's parameters (one tag per element when the parameter is a list). Every cached
entry also carries the tag ``query:<name>``. Invalidation matches whole tags, never substrings.

Each statement carries a sqlcommenter-style tag so pg_stat_statements rows map back to names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from importlib import resources

from venuepulse.durations import parse_duration

NAME = r"[a-z0-9_]+\.[a-z0-9_.]+"  # subject.query: what the name tag and pg_stat_statements' mapping accept
_HEADER = re.compile(rf"^--\s*name:\s*({NAME})\s*--\s*$", re.MULTILINE)
_OPTION = re.compile(r"^--\s*(cache|timeout|kind):\s*(.*?)\s*$")
_PARAM = re.compile(r"%(%|\(([A-Za-z_][A-Za-z0-9_]*)\)s)")
_STRAY_PERCENT = re.compile(r"%")
_TAG = re.compile(r"^[A-Za-z0-9_.:-]*(\{[A-Za-z_][A-Za-z0-9_]*\})?[A-Za-z0-9_.:-]*$")

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
    # SQL not from a .sql file (see execute.sql_statement): without parameters it is sent as written
    raw: bool = False

    @property
    def tagged_sql(self) -> str:
        """The SQL with its name as a trailing comment (sqlcommenter style)."""
        return f"{self.sql.rstrip().rstrip(';')}\n/*query_name='{self.name}'*/"

    @property
    def params(self) -> tuple[str, ...]:
        """The placeholder names, in order of first appearance."""
        return placeholders(self.sql)

    @property
    def positional_sql(self) -> str:
        """The tagged SQL with ``%(name)s`` turned into ``$1, $2, ...`` (for PREPARE and EXPLAIN)."""
        return positional(self.tagged_sql)

    @property
    def cached(self) -> bool:
        return self.cache_ttl is not None and self.cache_ttl > 0


def placeholders(sql: str) -> tuple[str, ...]:
    """Names of the ``%(name)s`` placeholders in ``sql``, in order of first appearance."""
    seen: dict[str, None] = {}
    for m in _PARAM.finditer(sql):
        if m.group(2):
            seen.setdefault(m.group(2))
    return tuple(seen)


def positional(sql: str) -> str:
    """``sql`` with ``%(name)s`` turned into ``$1, $2, ...`` by first appearance and ``%%`` into ``%``."""
    order = {name: i for i, name in enumerate(placeholders(sql), start=1)}

    def sub(m: re.Match) -> str:
        return "%" if m.group(1) == "%" else f"${order[m.group(2)]}"

    return _PARAM.sub(sub, sql)


def _timeout_ms(text: str) -> int:
    try:
        return int(parse_duration(text, default_unit="ms") / timedelta(milliseconds=1))
    except ValueError:
        raise ValueError(f"bad timeout {text!r}") from None


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
                    first, *rest = value.split() or ["?"]
                    try:
                        ttl = float(first)
                    except ValueError:
                        raise ValueError(f"query {name} in {source}: cache TTL {first!r} is not a number of seconds") from None
                    tags = tuple(rest)
            else:
                sql_lines.append(line)
        # comment lines after the SQL introduce the next query: they are not part of this one
        while sql_lines and (not sql_lines[-1].strip() or sql_lines[-1].lstrip().startswith("--")):
            sql_lines.pop()
        sql = "\n".join(sql_lines).strip()
        stray = _STRAY_PERCENT.search(_PARAM.sub("", sql))
        if stray:
            raise ValueError(f"query {name} in {source}: a literal % must be written %% "
                             f"(placeholders are %(name)s), near {sql[max(stray.start() - 20, 0):stray.start() + 20]!r}")
        if name in out:
            raise ValueError(f"query {name} is defined twice in {source}")
        if not sql:
            raise ValueError(f"query {name} in {source} has no SQL")
        if kind not in DEFAULT_TIMEOUTS_MS:
            raise ValueError(f"query {name} in {source}: unknown kind {kind!r}")
        if ttl is not None and ttl < 0:
            raise ValueError(f"query {name} in {source}: cache TTL must not be negative")
        names = placeholders(sql)
        for tag in tags:
            m = _TAG.match(tag)
            if not m:
                raise ValueError(f"query {name} in {source}: bad cache tag {tag!r}")
            if m.group(1) and m.group(1)[1:-1] not in names:
                raise ValueError(f"query {name} in {source}: cache tag {tag!r} names no parameter of the query")
        out[name] = NamedQuery(name, sql, kind, DEFAULT_TIMEOUTS_MS[kind] if timeout is None else timeout,
                               ttl, tags, source)
    return out


@cache
def registry() -> dict[str, NamedQuery]:
    """Every named query shipped in ``queries/sql``."""
    out: dict[str, NamedQuery] = {}
    for entry in sorted(resources.files("venuepulse.queries").joinpath("sql").iterdir(), key=lambda e: e.name):
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
