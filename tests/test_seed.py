"""Demo data (`venuepulse seed`): reproducible, consistent with itself, every invariant holding afterwards."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import psycopg
import pytest

from tests.fixtures import recount
from tests.fixtures.databases import create_database, drop_database
from venuepulse.jobs.seed import DatabaseNotEmpty, Dataset, get_scale, seed

# One anchor for the module: the history ends "now". Checks of what the seed wrote compare with NOW, not with
# the clock when they run (offers start and claims expire in the minutes after it); checks of what the
# database decides by its own clock (status(), flash_offer_recipients) run in the boundary run too.
NOW = time.time()


@pytest.fixture(scope="module")
def seeded(pg_server_url: str, template_db: str):
    """A database holding scale 'tiny' (seed 7), shared by the read-only tests of this module."""
    name = f"vp_seed_{uuid.uuid4().hex[:10]}"
    url = create_database(pg_server_url, name, template=template_db)
    try:
        summary = seed(url, scale="tiny", seed=7, now=NOW, progress=False)
        yield url, summary
    finally:
        drop_database(pg_server_url, name)


@pytest.fixture
def sconn(seeded):
    with psycopg.connect(seeded[0], autocommit=True) as c:
        yield c


def _one(conn, sql: str, params=()):
    return conn.execute(sql, params).fetchone()[0]


def _round(d: dict) -> dict:
    return {k: {c: (round(x, 10) if isinstance(x, Decimal) else x) for c, x in row.items()} for k, row in d.items()}


# --- reproducibility --------------------------------------------------------------------------------------

FINGERPRINT_TABLES = ["users", "user_privacy", "notification_settings", "device_tokens", "friendships", "venues",
                      "venue_owners", "check_ins", "reviews", "favorites", "collections", "collection_venues",
                      "flash_offers", "flash_offer_claims", "event_stream", "notifications", "query_performance_log"]


def _fingerprint(url: str) -> dict[str, str]:
    with psycopg.connect(url, autocommit=True) as c:
        out = {t: _one(c, f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x")
               for t in FINGERPRINT_TABLES}
        # venue_interactions' ids are drawn by the database; everything else in it must match
        out["venue_interactions"] = _one(c, """
            SELECT md5(string_agg(row(user_id, venue_id, check_in_count, last_check_in_at, review_count,
                                      current_rating, is_favorited, collection_count, flash_offer_claim_count,
                                      engagement_score, first_interaction_at, last_interaction_at)::text, '|'
                                  ORDER BY user_id, venue_id)) FROM venue_interactions""")
    return out


def test_the_same_seed_gives_the_same_rows_and_another_seed_different_ones(seeded, pg_server_url, template_db):
    url, _ = seeded
    names = [f"vp_seed_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    try:
        same = create_database(pg_server_url, names[0], template=template_db)
        other = create_database(pg_server_url, names[1], template=template_db)
        seed(same, scale="tiny", seed=7, now=NOW, progress=False)
        seed(other, scale="tiny", seed=8, now=NOW, progress=False)
        first, again, different = _fingerprint(url), _fingerprint(same), _fingerprint(other)
    finally:
        for n in names:
            drop_database(pg_server_url, n)
    assert first == again
    assert all(first[t] != different[t] for t in ("users", "check_ins", "event_stream", "notifications"))


def test_the_generator_alone_is_deterministic():
    a = Dataset(get_scale("tiny"), seed=3, now=NOW)
    b = Dataset(get_scale("tiny"), seed=3, now=NOW)
    for ta, tb in zip(a.tables(), b.tables(), strict=True):
        assert ta.name == tb.name
        assert list(ta.chunks(4000)) == list(tb.chunks(4000)), ta.name


# --- sizes and shape --------------------------------------------------------------------------------------

@pytest.mark.clock
def test_tiny_has_about_ten_thousand_check_ins_and_tables_in_proportion(seeded, sconn):
    _, summary = seeded
    rows = summary["rows"]
    assert rows["check_ins"] == 10_000 == _one(sconn, "SELECT count(*) FROM check_ins")
    assert rows["event_stream"] >= rows["check_ins"] + rows["reviews"] + rows["favorites"]
    for table in ("users", "venues", "reviews", "favorites", "collections", "flash_offers", "flash_offer_claims",
                  "notifications", "friendships", "query_performance_log", "venue_owners"):
        assert rows[table] > 0, table
        assert _one(sconn, f"SELECT count(*) FROM {table}") == rows[table], table
    assert summary["total_rows"] == sum(rows.values())
    assert summary["database_size_bytes"] > 0 and summary["seconds"] > 0
    assert set(summary["tables"]["check_ins"]) == {"rows", "seconds", "rows_per_second"}


@pytest.mark.clock
def test_nothing_lands_in_default_partitions(sconn):
    for table in ("check_ins", "event_stream", "query_performance_log"):
        assert _one(sconn, f"SELECT count(*) FROM {table}_default") == 0, table


def test_every_foreign_key_holds(sconn):
    """The loader skips FK checks during COPY; re-adding every constraint re-validates every row."""
    fks = sconn.execute("""
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE c.contype = 'f' AND n.nspname = 'public' AND c.conparentid = 0""").fetchall()
    assert len(fks) >= 20
    with sconn.transaction(force_rollback=True):
        for table, name, definition in fks:
            sconn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            sconn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


@pytest.mark.clock
def test_indexes_are_all_back_after_the_load(sconn, template_db, pg_server_url):
    from tests.fixtures.databases import with_database

    def indexes(conn):
        return set(conn.execute("""SELECT tablename, indexname, indexdef FROM pg_indexes
                                   WHERE schemaname = 'public'""").fetchall())

    with psycopg.connect(with_database(pg_server_url, template_db), autocommit=True) as t:
        expected = indexes(t)
    partitions_made = {r for r in indexes(sconn) if r not in expected}
    assert expected <= indexes(sconn)
    assert all("_p20" in table for table, _, _ in partitions_made)


def test_popularity_is_skewed_and_ratings_vary_by_venue(sconn):
    top_share = _one(sconn, """
        SELECT sum(n) FILTER (WHERE rk <= greatest(1, total_venues / 10))::float / sum(n)
        FROM (SELECT count(*) AS n, rank() OVER (ORDER BY count(*) DESC) AS rk,
                     (SELECT count(*) FROM venues) AS total_venues
              FROM check_ins GROUP BY venue_id) x""")
    assert top_share > 0.4  # the top tenth of venues gets a large share of check-ins
    spread = _one(sconn, """SELECT stddev(a) FROM (SELECT avg(rating) a FROM reviews GROUP BY venue_id
                                                   HAVING count(*) >= 5) x""")
    assert spread > 0.3
    assert _one(sconn, "SELECT count(DISTINCT is_verified) FROM reviews") == 2
    assert _one(sconn, "SELECT count(*) FROM reviews WHERE helpful_count > 0") > 0


@pytest.mark.clock
def test_weekly_and_daily_rhythm(sconn):
    by_dow = dict(sconn.execute("""SELECT extract(isodow FROM checked_in_at AT TIME ZONE 'UTC')::int, count(*)
                                   FROM check_ins GROUP BY 1""").fetchall())
    assert by_dow[6] > by_dow[1]  # Saturdays busier than Mondays
    hours = [r[0] for r in sconn.execute("""
        SELECT count(*) FROM check_ins c JOIN venues v ON v.id = c.venue_id
        WHERE v.city = 'New York' GROUP BY extract(hour FROM checked_in_at AT TIME ZONE 'America/New_York')
        ORDER BY 1""").fetchall()]
    assert max(hours) > 5 * min(hours)


@pytest.mark.clock
def test_check_ins_never_overlap_and_only_recent_ones_are_active(sconn):
    assert _one(sconn, "SELECT count(*) FROM (SELECT user_id FROM check_ins WHERE is_active GROUP BY user_id "
                       "HAVING count(*) > 1) x") == 0
    assert _one(sconn, "SELECT count(*) FROM check_ins WHERE is_active") > 0
    assert _one(sconn, "SELECT count(*) FROM check_ins WHERE is_active AND checked_in_at < to_timestamp(%s) - interval '1 day'",
                (NOW,)) == 0
    overlaps = _one(sconn, """
        SELECT count(*) FROM (
          SELECT checked_out_at, lead(checked_in_at) OVER (PARTITION BY user_id ORDER BY checked_in_at) AS nxt
          FROM check_ins) x
        WHERE checked_out_at > nxt""")
    assert overlaps == 0
    assert _one(sconn, "SELECT count(*) FROM check_ins WHERE checked_in_at > to_timestamp(%s)", (NOW,)) == 0
    # users' last location is where they checked in last
    assert _one(sconn, """
        SELECT count(*) FROM users u
        JOIN LATERAL (SELECT venue_id, checked_in_at FROM check_ins c WHERE c.user_id = u.id
                      ORDER BY checked_in_at DESC LIMIT 1) l ON true
        JOIN venues v ON v.id = l.venue_id
        WHERE (u.last_lat, u.last_lng, u.last_location_at) IS DISTINCT FROM (v.lat, v.lng, l.checked_in_at)""") == 0


def test_people_and_venues_vary(sconn):
    assert _one(sconn, "SELECT count(DISTINCT timezone) FROM users") >= 3
    assert _one(sconn, "SELECT count(DISTINCT city) FROM venues") == 3
    assert _one(sconn, "SELECT count(DISTINCT category) FROM venues") >= 8
    assert _one(sconn, "SELECT count(*) FROM venues WHERE is_featured") > 0
    assert _one(sconn, "SELECT count(*) FROM notification_settings WHERE quiet_hours_start IS NOT NULL") > 0
    assert _one(sconn, "SELECT count(DISTINCT push_enabled) FROM notification_settings") == 2
    assert _one(sconn, "SELECT count(DISTINCT visibility->>'check_ins') FROM user_privacy") >= 3
    # every venue has an owner; a few owners own several venues
    assert _one(sconn, "SELECT count(*) FROM venues v WHERE NOT EXISTS "
                       "(SELECT 1 FROM venue_owners o WHERE o.venue_id = v.id AND o.role = 'owner')") == 0
    assert _one(sconn, "SELECT max(n) FROM (SELECT count(*) n FROM venue_owners WHERE role = 'owner' "
                       "GROUP BY user_id) x") > 1
    assert _one(sconn, "SELECT count(*) FROM friendships f WHERE f.status = 'accepted' AND NOT EXISTS "
                       "(SELECT 1 FROM friendships g WHERE g.user_id = f.friend_id AND g.friend_id = f.user_id)") == 0


# --- invariants ---------------------------------------------------------------------------------------------

@pytest.mark.clock
def test_every_denormalized_number_equals_its_recount_and_venue_stats_refreshes(sconn):
    s = recount.snapshot(sconn)
    assert recount.stored_venue_counters(sconn) == recount.venue_counters(s)
    assert recount.stored_offer_counters(sconn) == recount.offer_counters(s)
    assert recount.stored_venue_interactions(sconn) == recount.venue_interactions(s)
    sconn.execute("SELECT refresh_venue_stats()")  # populated by the seed: this one runs CONCURRENTLY
    refreshed = _one(sconn, "SELECT max(refreshed_at) FROM venue_stats")
    assert _round(recount.stored_venue_stats(sconn)) == _round(recount.venue_stats(s, refreshed))
    with sconn.transaction(force_rollback=True):
        assert sconn.execute("SELECT * FROM vp_recompute_denormalized()").fetchone() == (0, 0, 0, 0)


def test_events_are_exactly_what_the_triggers_would_have_written(sconn):
    checks = {
        "check_in": """SELECT count(*) FROM check_ins c WHERE NOT EXISTS (SELECT 1 FROM event_stream e
            WHERE e.event_type = 'check_in' AND e.source_id = c.id AND e.category = 'social'
              AND e.user_id = c.user_id AND e.target_type = 'venue' AND e.target_id = c.venue_id
              AND e.venue_id = c.venue_id AND e.created_at = c.checked_in_at AND NOT e.is_analytics_event
              AND e.visibility = vp_visibility_for(c.user_id, 'check_ins') AND e.metadata = '{}')""",
        "review": """SELECT count(*) FROM reviews r WHERE NOT EXISTS (SELECT 1 FROM event_stream e
            WHERE e.event_type = 'review' AND e.source_id = r.id AND e.category = 'social' AND e.user_id = r.user_id
              AND e.target_id = r.venue_id AND e.venue_id = r.venue_id AND e.created_at = r.created_at
              AND e.visibility = vp_visibility_for(r.user_id, 'reviews')
              AND e.metadata = jsonb_build_object('rating', r.rating))""",
        "favorite": """SELECT count(*) FROM favorites f WHERE NOT EXISTS (SELECT 1 FROM event_stream e
            WHERE e.event_type = 'favorite' AND e.source_id = vp_favorite_source_id(f.user_id, f.venue_id)
              AND e.category = 'engagement' AND e.user_id = f.user_id AND e.target_id = f.venue_id
              AND e.venue_id = f.venue_id AND e.created_at = f.created_at
              AND e.visibility = vp_visibility_for(f.user_id, 'favorites'))""",
        "flash_offer_claim": """SELECT count(*) FROM flash_offer_claims c JOIN flash_offers o ON o.id = c.offer_id
            WHERE NOT EXISTS (SELECT 1 FROM event_stream e
            WHERE e.event_type = 'flash_offer_claim' AND e.source_id = c.id AND e.category = 'commerce'
              AND e.user_id = c.user_id AND e.target_type = 'offer' AND e.target_id = c.offer_id
              AND e.venue_id = o.venue_id AND e.created_at = c.created_at AND e.visibility = 'private'
              AND e.is_analytics_event)""",
        "flash_offer_redeem": """SELECT count(*) FROM flash_offer_claims c JOIN flash_offers o ON o.id = c.offer_id
            WHERE c.status = 'redeemed' AND NOT EXISTS (SELECT 1 FROM event_stream e
            WHERE e.event_type = 'flash_offer_redeem' AND e.source_id = c.id AND e.user_id = c.user_id
              AND e.target_id = c.offer_id AND e.venue_id = o.venue_id AND e.created_at = c.redeemed_at
              AND e.visibility = 'private' AND e.is_analytics_event
              AND e.metadata = jsonb_build_object('staff_id', c.redeemed_by_user_id))""",
    }
    for kind, sql in checks.items():
        assert _one(sconn, sql) == 0, f"{kind} rows without their event"
    # and no event of those kinds without its row
    sources = {"check_in": "check_ins", "review": "reviews", "flash_offer_claim": "flash_offer_claims"}
    for kind, table in sources.items():
        assert _one(sconn, "SELECT count(*) FROM event_stream WHERE event_type = %s", (kind,)) == \
            _one(sconn, f"SELECT count(*) FROM {table}"), kind
    assert _one(sconn, "SELECT count(*) FROM event_stream WHERE event_type = 'favorite'") == \
        _one(sconn, "SELECT count(*) FROM favorites")
    assert _one(sconn, "SELECT count(*) FROM event_stream WHERE event_type = 'flash_offer_redeem'") == \
        _one(sconn, "SELECT count(*) FROM flash_offer_claims WHERE status = 'redeemed'")
    # offer views and clicks look like record_offer_event's
    assert _one(sconn, """SELECT count(*) FROM event_stream e JOIN flash_offers o ON o.id = e.target_id
                          WHERE e.event_type IN ('flash_offer_view', 'flash_offer_click')
                            AND e.is_analytics_event AND e.target_type = 'offer' AND e.category = 'commerce'
                            AND e.visibility = 'private' AND e.venue_id = o.venue_id AND e.source_id IS NULL""") == \
        _one(sconn, "SELECT count(*) FROM event_stream WHERE event_type IN ('flash_offer_view', 'flash_offer_click')")


# --- flash offers --------------------------------------------------------------------------------------------

@pytest.mark.clock
def test_offers_exist_in_every_state_and_funnels_happen_in_order(sconn):
    states = dict(sconn.execute("SELECT o.status, count(*) FROM flash_offers o GROUP BY 1").fetchall())
    assert set(states) == {"scheduled", "active", "full", "expired"}
    assert _one(sconn, "SELECT count(*) FROM flash_offers WHERE push_sent <> (start_time <= to_timestamp(%s))", (NOW,)) == 0
    # each claim follows a click, which follows a view, all inside the window; redemptions before expiry
    assert _one(sconn, """
        SELECT count(*) FROM flash_offer_claims c JOIN flash_offers o ON o.id = c.offer_id
        WHERE NOT EXISTS (
          SELECT 1 FROM event_stream k JOIN event_stream v ON v.target_id = k.target_id AND v.user_id = k.user_id
          WHERE k.event_type = 'flash_offer_click' AND v.event_type = 'flash_offer_view'
            AND k.target_id = c.offer_id AND k.user_id = c.user_id
            AND v.created_at <= k.created_at AND k.created_at <= c.created_at AND v.created_at >= o.push_sent_at)
           OR c.created_at >= o.end_time""") == 0
    assert _one(sconn, "SELECT count(*) FROM flash_offer_claims WHERE status = 'redeemed' "
                       "AND NOT (redeemed_at >= created_at AND redeemed_at < expires_at)") == 0
    assert _one(sconn, "SELECT count(*) FROM flash_offer_claims WHERE status = 'active' AND expires_at <= to_timestamp(%s)",
                (NOW,)) == 0
    assert _one(sconn, "SELECT count(*) FROM flash_offer_claims c JOIN flash_offers o ON o.id = c.offer_id "
                       "WHERE c.redeemed_by_user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM venue_owners w "
                       "WHERE w.venue_id = o.venue_id AND w.user_id = c.redeemed_by_user_id)") == 0
    # funnels drop off
    views, clicks, claims, redeemed = sconn.execute("""
        SELECT sum(view_count), sum(click_count), sum(claimed_count), sum(redeemed_count) FROM flash_offers""").fetchone()
    assert views > clicks > claims > redeemed > 0


@pytest.mark.clock
def test_pushes_go_to_the_recipients_and_notifications_match(sconn):
    assert _one(sconn, """SELECT count(*) FROM flash_offers o WHERE push_recipient_count <>
                          (SELECT count(*) FROM notifications n WHERE n.category = 'flash_offer'
                             AND n.reference_type = 'flash_offer' AND n.reference_id = o.id)""") == 0
    assert _one(sconn, """SELECT count(*) FROM notifications n JOIN flash_offers o ON o.id = n.reference_id
                          WHERE n.category = 'flash_offer' AND (n.venue_id <> o.venue_id
                             OR n.created_at <> o.push_sent_at OR n.expires_at <> o.end_time)""") == 0
    # channels follow the user's settings (no settings row: push and in-app)
    assert _one(sconn, """SELECT count(*) FROM notifications n LEFT JOIN notification_settings s USING (user_id)
                          WHERE n.channels <> jsonb_build_object('push', coalesce(s.push_enabled, true),
                                  'in_app', coalesce(s.in_app_enabled, true), 'email', coalesce(s.email_enabled, false))
                          """) == 0
    cats = {r[0] for r in sconn.execute("SELECT DISTINCT category FROM notifications").fetchall()}
    assert {"flash_offer", "friend_request", "venue_share", "check_in_nearby"} <= cats
    read, clicked = sconn.execute("SELECT count(*) FILTER (WHERE read), count(*) FILTER (WHERE clicked) "
                                  "FROM notifications").fetchone()
    assert read > clicked > 0


@pytest.mark.clock
def test_python_recipients_agree_with_flash_offer_recipients(sconn):
    data = Dataset(get_scale("tiny"), seed=7, now=NOW)
    ids = {u: i for i, u in enumerate(uuid.UUID(bytes=bytes(b)) for b in data.u_id)}
    rows = sconn.execute("""SELECT o.id, now(), array(SELECT flash_offer_recipients(o.id)) FROM flash_offers o""")
    checked = nonempty = 0
    offer_index = {uuid.UUID(bytes=bytes(b)): i for i, b in enumerate(data.of_id)}
    for offer_id, at, recipients in rows.fetchall():
        expected = set(data.recipients(offer_index[offer_id], int(at.timestamp() * 1_000_000)).tolist())
        assert {ids[u] for u in recipients} == expected, offer_id
        checked += 1
        nonempty += bool(expected)
    assert checked > 20 and nonempty > 5


@pytest.mark.clock
def test_offers_that_started_minutes_ago_were_pushed_to_their_recipients(sconn):
    data = Dataset(get_scale("tiny"), seed=7, now=NOW)
    recent = sconn.execute("""SELECT id, push_recipient_count, push_sent_at FROM flash_offers
                              WHERE start_time > to_timestamp(%s) - interval '15 minutes'
                                AND start_time <= to_timestamp(%s)""", (NOW, NOW)).fetchall()
    assert recent
    offer_index = {uuid.UUID(bytes=bytes(b)): i for i, b in enumerate(data.of_id)}
    for offer_id, count, sent_at in recent:
        assert count == len(data.recipients(offer_index[offer_id], int(sent_at.timestamp() * 1_000_000)))


# --- query log ------------------------------------------------------------------------------------------------

@pytest.mark.clock
def test_query_log_uses_registered_names_and_has_regressions_to_find(seeded, sconn):
    from venuepulse.queries.core.registry import registry

    names = {r[0] for r in sconn.execute("SELECT DISTINCT query_name FROM query_performance_log").fetchall()}
    known = set(registry())
    assert len(names) >= 5 and names <= known
    regressed = seeded[1]["regressed_queries"]
    assert 2 <= len(regressed) <= 3
    slower = [n for n, how in regressed.items() if how.startswith("slower since")]
    for name in slower:
        before, after = sconn.execute("""
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY execution_time_ms)
                     FILTER (WHERE created_at < to_timestamp(%s) - interval '4 days'),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY execution_time_ms)
                     FILTER (WHERE created_at > to_timestamp(%s) - interval '3 days')
            FROM query_performance_log WHERE query_name = %s""", (NOW, NOW, name)).fetchone()
        assert after > 1.5 * before, name


# --- refusing, resetting, appending ----------------------------------------------------------------------------

def test_a_database_with_app_data_is_refused_with_a_clear_message(seeded):
    with pytest.raises(DatabaseNotEmpty) as err:
        seed(seeded[0], scale="tiny", progress=False)
    msg = str(err.value)
    assert "already has app data" in msg and "600 users" in msg and "--reset" in msg and "--append" in msg


def test_cli_refuses_a_non_empty_database(seeded, run_cli):
    r = run_cli("seed", "--scale", "tiny", "--database-url", seeded[0])
    assert r.returncode == 2
    assert r.stderr.startswith("venuepulse: the database already has app data (600 users")
    assert "Traceback" not in r.stderr


def test_bad_arguments_are_named(db_url):
    with pytest.raises(Exception, match="unknown scale 'huge'"):
        seed(db_url, scale="huge", progress=False)
    with pytest.raises(Exception, match="--days must be"):
        seed(db_url, scale="tiny", days=0, progress=False)
    with pytest.raises(Exception, match="unknown mode 'merge'"):
        seed(db_url, scale="tiny", mode="merge", progress=False)


def test_an_unmigrated_database_is_refused(empty_db_url):
    with pytest.raises(Exception, match="no VenuePulse schema; run 'venuepulse migrate' first"):
        seed(empty_db_url, scale="tiny", progress=False)


def test_reset_says_what_it_deletes_then_reseeds_and_append_adds_a_population(db_url, run_cli, conn):
    seed(db_url, scale="tiny", seed=1, progress=False)
    r = run_cli("seed", "--scale", "tiny", "--seed", "2", "--reset", "--database-url", db_url)
    assert r.returncode == 0, r.stderr
    assert "reset: deleting all app data: 600 users, 120 venues, 10,000 check ins" in " ".join(r.stderr.split())
    assert "seeded scale 'tiny'" in r.stderr
    assert _one(conn, "SELECT count(*) FROM users") == 600
    summary = seed(db_url, scale="tiny", seed=2, mode="append", progress=False)
    assert summary["deleted"] == {}
    assert _one(conn, "SELECT count(*) FROM users") == 1200
    assert _one(conn, "SELECT count(*) FROM check_ins") == 20_000
    s = recount.snapshot(conn)
    assert recount.stored_venue_counters(conn) == recount.venue_counters(s)
    assert recount.stored_offer_counters(conn) == recount.offer_counters(s)
    assert recount.stored_venue_interactions(conn) == recount.venue_interactions(s)


@pytest.mark.slow
def test_loading_through_the_triggers_gives_the_same_numbers(db_url, conn):
    seed(db_url, scale="tiny", seed=5, now=NOW, strategy="triggers", progress=False)
    s = recount.snapshot(conn)
    assert recount.stored_venue_counters(conn) == recount.venue_counters(s)
    assert recount.stored_offer_counters(conn) == recount.offer_counters(s)
    assert recount.stored_venue_interactions(conn) == recount.venue_interactions(s)
    assert _one(conn, "SELECT count(*) FROM event_stream WHERE event_type = 'check_in'") == 10_000
