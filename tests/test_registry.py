"""The named-query registry: parsing, options, validation, and every shipped query."""

from __future__ import annotations

import re

import pytest

from venuepulse.queries.core.registry import DEFAULT_TIMEOUTS_MS, parse, placeholders, registry


def test_options_are_read_from_the_lines_after_the_header():
    q = parse("""
-- name: venues.top --
-- cache: 30 venues venue:{venue_id}
-- timeout: 1.5s
-- kind: read
SELECT * FROM venues WHERE id = %(venue_id)s::uuid LIMIT %(limit)s
""")["venues.top"]
    assert q.cache_ttl == 30 and q.cache_tags == ("venues", "venue:{venue_id}")
    assert q.timeout_ms == 1500 and q.kind == "read" and q.cached
    assert q.params == ("venue_id", "limit")


def test_timeout_defaults_by_kind():
    qs = parse("-- name: a.r --\nSELECT 1\n-- name: a.w --\n-- kind: write\nSELECT 2\n")
    assert qs["a.r"].timeout_ms == DEFAULT_TIMEOUTS_MS["read"]
    assert qs["a.w"].timeout_ms == DEFAULT_TIMEOUTS_MS["write"]


def test_comments_before_a_header_belong_to_the_next_query_not_the_previous():
    qs = parse("-- name: a.one --\nSELECT 1\n\n-- explains a.two, mentions %(nothing)s\n-- name: a.two --\nSELECT 2\n")
    assert qs["a.one"].sql == "SELECT 1"
    assert qs["a.one"].params == ()


def test_tagged_sql_carries_the_name_as_a_sqlcommenter_comment():
    q = parse("-- name: a.b --\nSELECT 1;\n")["a.b"]
    assert q.tagged_sql == "SELECT 1\n/*query_name='a.b'*/"


def test_positional_sql_numbers_placeholders_by_first_appearance_and_unescapes_percent():
    q = parse("-- name: a.b --\nSELECT %(x)s::int + %(y)s::int + %(x)s::int WHERE 'a' LIKE '%%'\n")["a.b"]
    assert q.positional_sql.startswith("SELECT $1::int + $2::int + $1::int WHERE 'a' LIKE '%'")


@pytest.mark.parametrize("text, words", [
    ("-- name: a.b --\n-- kind: sometimes\nSELECT 1", "unknown kind"),
    ("-- name: a.b --\n-- cache: soon\nSELECT 1", "not a number"),
    ("-- name: a.b --\n-- cache: 10 venue:{nope}\nSELECT %(id)s::uuid", "names no parameter"),
    ("-- name: a.b --\n-- timeout: fast\nSELECT 1", "bad timeout"),
    ("-- name: a.b --\nSELECT 1 WHERE 'x' LIKE '5%'", "literal % must be written %%"),
    ("-- name: a.b --\n-- kind: read\n", "has no SQL"),
    ("-- name: a.b --\nSELECT 1\n-- name: a.b --\nSELECT 2", "defined twice"),
])
def test_bad_definitions_are_refused_with_the_reason(text, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        parse(text, "x.sql")


def test_placeholders_ignore_escaped_percent():
    assert placeholders("SELECT '%%', %(a)s, %(b)s, %(a)s") == ("a", "b")


def test_every_shipped_query_loads_and_mine_are_present():
    reg = registry()
    for name in ("health.ping", "venues.featured", "venues.with_details", "feed.activity",
                 "performance.query_stats", "performance.rollup", "performance.stat_statements"):
        assert name in reg
    for q in reg.values():
        assert q.sql and "%(" not in q.positional_sql
