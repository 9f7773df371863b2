"""Pieces of the main history's revision 0001 (``queries/migrations/sql/0001_schema.up.sql``), by name.

The upgrade path must end with exactly the schema 0001 creates, so it reuses 0001's own text for every
function, trigger, view and new table instead of keeping a copy: :func:`statement` finds the statement that
creates a named object, :func:`statements` several at once.
"""

from __future__ import annotations

import re
from functools import cache

from venuepulse.queries.schema.migrations.sqlfile import read_sql_file

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_CREATE = re.compile(
    r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:UNIQUE\s+)?"
    r"(TABLE|FUNCTION|TRIGGER|VIEW|MATERIALIZED\s+VIEW|INDEX)\s+([A-Za-z_][A-Za-z_0-9]*)",
    re.IGNORECASE,
)


def split_sql(text: str) -> list[str]:
    """Split a PostgreSQL script into statements (dollar quotes, quoted strings and -- comments respected)."""
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            buf.append(text[i:j])
            i = j
            continue
        if ch == "'":
            j = i + 1
            while j < n:
                if text[j] == "'" and text.startswith("''", j):
                    j += 2
                    continue
                if text[j] == "'":
                    break
                j += 1
            buf.append(text[i : j + 1])
            i = j + 1
            continue
        if ch == "$":
            m = _DOLLAR.match(text, i)
            if m:
                end = text.find(m.group(0), m.end())
                if end < 0:
                    raise ValueError(f"unterminated dollar quote {m.group(0)} in SQL script")
                buf.append(text[i : end + len(m.group(0))])
                i = end + len(m.group(0))
                continue
        if ch == ";":
            stmt = _strip_comments("".join(buf))
            if stmt:
                out.append(stmt)
            buf = []
            i += 1
            continue
        buf.append(ch)
        i += 1
    tail = _strip_comments("".join(buf))
    if tail:
        out.append(tail)
    return out


def _strip_comments(stmt: str) -> str:
    """Drop leading comment lines and blank lines (comments inside bodies stay as written)."""
    lines = stmt.strip().splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip()


@cache
def _index() -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for stmt in split_sql(read_sql_file("0001_schema.up.sql")):
        m = _CREATE.match(stmt)
        if m:
            kind = re.sub(r"\s+", " ", m.group(1).upper())
            out[(kind, m.group(2).lower())] = stmt
    return out


def statement(kind: str, name: str, *, replace: bool = False) -> str:
    """0001's statement creating ``kind`` (TABLE, FUNCTION, TRIGGER, VIEW, MATERIALIZED VIEW, INDEX) ``name``.

    ``replace`` turns ``CREATE FUNCTION``/``CREATE VIEW`` into ``CREATE OR REPLACE``: the stored definition
    is the same either way.
    """
    try:
        stmt = _index()[(kind.upper(), name.lower())]
    except KeyError:
        raise KeyError(f"0001_schema.up.sql creates no {kind} named {name}") from None
    if replace:
        stmt = re.sub(r"^CREATE\s+(FUNCTION|VIEW)\b", r"CREATE OR REPLACE \1", stmt, count=1, flags=re.IGNORECASE)
    return stmt + ";"


def statements(kind: str, names: list[str], *, replace: bool = False) -> str:
    return "\n".join(statement(kind, n, replace=replace) for n in names)


def names(kind: str) -> list[str]:
    """Names of every ``kind`` object 0001 creates, in file order."""
    return [name for (k, name) in _index() if k == kind.upper()]


def index_table(name: str) -> str:
    """The table (or materialized view) 0001's index ``name`` is built on."""
    m = re.search(r"\bON\s+(?:ONLY\s+)?([A-Za-z_][A-Za-z_0-9]*)", statement("INDEX", name), re.IGNORECASE)
    if not m:
        raise ValueError(f"cannot tell which table index {name} is on")
    return m.group(1).lower()
