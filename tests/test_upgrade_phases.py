"""The four phases on a seeded legacy database: live writes through them, verification, resumable and
idempotent backfills, downgrades of phases 1 and 2."""

from __future__ import annotations

import random
import threading
from decimal import Decimal

import psycopg
import pytest

from tests.fixtures import recount
from tests.fixtures.catalog import describe_catalog
from venuepulse.queries.core.execute import execute
from venuepulse.queries.schema import legacy

SMALL_BATCHES = {b.name: 25 for b in legacy.BACKFILLS}
TOKEN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# what the legacy app's writes may run into while the upgrade goes on: refusals of the new constraints
# (an offer's last claim taken twice), duplicates, deadlocks with a batch, and, once phase 3 has dropped
# them, the old tables being gone
EXPECTED_ERRORS = (psycopg.errors.UniqueViolation, psycopg.errors.CheckViolation,
                   psycopg.errors.DeadlockDetected, psycopg.errors.UndefinedTable,
                   psycopg.errors.ForeignKeyViolation, psycopg.errors.RaiseException,
                   psycopg.errors.LockNotAvailable)


class AppWriter(threading.Thread):
    """The app, writing while the upgrade runs: the legacy app's own statements on the old tables (which
    also bump claimed_count by hand), and after phase 3 has dropped the old tables, the new contract."""

    def __init__(self, url: str, seed: int):
        super().__init__(daemon=True)
        self.url, self.rng = url, random.Random(seed)
        self.stop = threading.Event()
        self.legacy_mode = True
        self.done = 0
        self.expected_errors = 0
        self.unexpected: list[BaseException] = []

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                self.users = [r[0] for r in conn.execute("SELECT id FROM users")]
                self.venues = [r[0] for r in conn.execute("SELECT id FROM venues")]
                while not self.stop.is_set():
                    op = self.rng.choice(self.OPS)
                    try:
                        with conn.transaction():
                            op(self, conn)
                        self.done += 1
                    except EXPECTED_ERRORS as exc:
                        self.expected_errors += 1
                        if isinstance(exc, psycopg.errors.UndefinedTable):
                            self.legacy_mode = False
        except BaseException as exc:  # reported by the test
            self.unexpected.append(exc)

    def _user(self):
        return self.rng.choice(self.users)

    def _venue(self):
        return self.rng.choice(self.venues)

    # -- operations ------------------------------------------------------------------------------------

    def check_in(self, conn):
        u, v = self._user(), self._venue()
        if not self.legacy_mode:
            conn.execute("SELECT check_in(%s, %s)", (u, v))
            return
        conn.execute("UPDATE check_ins SET is_active = false, checked_out_at = now() WHERE user_id = %s AND is_active",
                     (u,))
        cid = conn.execute("INSERT INTO check_ins (user_id, venue_id) VALUES (%s, %s) RETURNING id", (u, v)).fetchone()[0]
        if self.rng.random() < 0.7:
            conn.execute("INSERT INTO activity_feed (user_id, activity_type, venue_id, target_type, target_id, "
                         "reference_id, visibility) VALUES (%s, 'check_in', %s, 'venue', %s, %s, %s)",
                         (u, v, v, cid, self.rng.choice(["friends", "public", "everyone"])))

    def check_out(self, conn):
        conn.execute("UPDATE check_ins SET is_active = false, checked_out_at = now() "
                     "WHERE id = (SELECT id FROM check_ins WHERE is_active ORDER BY random() LIMIT 1)")

    def delete_check_in(self, conn):
        row = conn.execute("SELECT id FROM check_ins ORDER BY random() LIMIT 1").fetchone()
        if row:
            if self.legacy_mode:
                conn.execute("DELETE FROM activity_feed WHERE reference_id = %s AND activity_type = 'check_in'",
                             (row[0],))
            conn.execute("DELETE FROM check_ins WHERE id = %s", (row[0],))

    def review(self, conn):
        u, v = self._user(), self._venue()
        row = conn.execute("INSERT INTO reviews (user_id, venue_id, rating) VALUES (%s, %s, %s) "
                           "ON CONFLICT DO NOTHING RETURNING id", (u, v, self.rng.randint(1, 5))).fetchone()
        if row and self.legacy_mode:
            conn.execute("INSERT INTO activity_feed (user_id, activity_type, venue_id, target_type, target_id, "
                         "reference_id) VALUES (%s, 'review', %s, 'venue', %s, %s)", (u, v, v, row[0]))

    def favorite(self, conn):
        u, v = self._user(), self._venue()
        gone = conn.execute("DELETE FROM favorites WHERE user_id = %s AND venue_id = %s RETURNING 1", (u, v)).fetchone()
        if gone:
            if self.legacy_mode:
                conn.execute("DELETE FROM activity_feed WHERE user_id = %s AND venue_id = %s "
                             "AND activity_type = 'favorite'", (u, v))
            return
        conn.execute("INSERT INTO favorites (user_id, venue_id) VALUES (%s, %s)", (u, v))
        if self.legacy_mode and self.rng.random() < 0.5:
            conn.execute("INSERT INTO activity_feed (user_id, activity_type, venue_id, target_type, target_id) "
                         "VALUES (%s, 'favorite', %s, 'venue', %s)", (u, v, v))

    def collect(self, conn):
        row = conn.execute("SELECT id FROM collections ORDER BY random() LIMIT 1").fetchone()
        if row:
            v = self._venue()
            if conn.execute("DELETE FROM collection_venues WHERE collection_id = %s AND venue_id = %s RETURNING 1",
                            (row[0], v)).fetchone() is None:
                conn.execute("INSERT INTO collection_venues (collection_id, venue_id) VALUES (%s, %s)", (row[0], v))

    def claim(self, conn):
        u = self._user()
        offer = conn.execute("SELECT id FROM flash_offers WHERE start_time <= now() AND end_time > now() "
                             "ORDER BY random() LIMIT 1").fetchone()
        if offer is None:
            return
        if not self.legacy_mode:
            conn.execute("SELECT record_offer_event(%s, %s, 'click')", (offer[0], u))
            conn.execute("SELECT claim_flash_offer(%s, %s)", (offer[0], u))
            return
        conn.execute("INSERT INTO flash_offer_events (offer_id, user_id, event_type) VALUES (%s, %s, 'click')",
                     (offer[0], u))
        token = "".join(self.rng.choice(TOKEN_ALPHABET) for _ in range(6))
        conn.execute("INSERT INTO flash_offer_claims (offer_id, user_id, token, expires_at) "
                     "VALUES (%s, %s, %s, now() + interval '2 hours')", (offer[0], u, token))
        # the legacy app's own counter, written separately from the claim
        conn.execute("UPDATE flash_offers SET claimed_count = claimed_count + 1 WHERE id = %s", (offer[0],))

    def redeem(self, conn):
        conn.execute("UPDATE flash_offer_claims SET status = 'redeemed', redeemed_at = now() "
                     "WHERE id = (SELECT id FROM flash_offer_claims WHERE status = 'active' ORDER BY random() LIMIT 1)")

    def offer_view(self, conn):
        offer = conn.execute("SELECT id FROM flash_offers ORDER BY random() LIMIT 1").fetchone()
        if self.legacy_mode:
            conn.execute("INSERT INTO flash_offer_events (offer_id, user_id, event_type) VALUES (%s, %s, 'view')",
                         (offer[0], self._user()))
            if self.rng.random() < 0.2:
                conn.execute("DELETE FROM flash_offer_events WHERE id = (SELECT id FROM flash_offer_events "
                             "ORDER BY random() LIMIT 1)")
        else:
            conn.execute("SELECT record_offer_event(%s, %s, 'view')", (offer[0], self._user()))

    def notify(self, conn):
        if not self.legacy_mode:
            return
        u = self._user()
        conn.execute("INSERT INTO social_notifications (user_id, type, title, body, actor_id, reference_id, "
                     "reference_type) VALUES (%s, 'friend_request', 'New friend request', 'Hi', %s, %s, 'user')",
                     (u, self._user(), u))
        conn.execute("UPDATE social_notifications SET is_read = true WHERE id = (SELECT id FROM social_notifications "
                     "WHERE NOT is_read ORDER BY random() LIMIT 1)")
        if self.rng.random() < 0.2:
            conn.execute("DELETE FROM social_notifications WHERE id = (SELECT id FROM social_notifications "
                         "ORDER BY random() LIMIT 1)")

    def preferences(self, conn):
        if not self.legacy_mode:
            return
        conn.execute("INSERT INTO notification_preferences (user_id, quiet_hours_start, timezone) "
                     "VALUES (%s, '23:00', 'Europe/Lisbon') ON CONFLICT (user_id) DO UPDATE SET "
                     "flash_offers_enabled = NOT notification_preferences.flash_offers_enabled, updated_at = now()",
                     (self._user(),))

    OPS = [check_in, check_in, check_out, delete_check_in, review, favorite, collect, claim, claim, redeem,
           offer_view, offer_view, notify, preferences]


def _round(d: dict) -> dict:
    return {k: {c: (round(x, 10) if isinstance(x, Decimal) else x) for c, x in row.items()} for k, row in d.items()}


def assert_metrics_equal_recounts(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        s = recount.snapshot(conn)
        assert recount.stored_venue_counters(conn) == recount.venue_counters(s)
        assert recount.stored_offer_counters(conn) == recount.offer_counters(s)
        assert recount.stored_venue_interactions(conn) == recount.venue_interactions(s)
        conn.execute("SELECT refresh_venue_stats()")
        now = conn.execute("SELECT max(refreshed_at) FROM venue_stats").fetchone()[0]
        assert _round(recount.stored_venue_stats(conn)) == _round(recount.venue_stats(s, now))
        assert conn.execute("SELECT * FROM vp_recompute_denormalized()").fetchone() == (0, 0, 0, 0)


@pytest.mark.slow
def test_with_the_app_writing_throughout_verification_finds_nothing_and_metrics_equal_recounts(legacy_url):
    legacy.upgrade(legacy_url, 1)
    writers = [AppWriter(legacy_url, seed) for seed in range(3)]
    for w in writers:
        w.start()
    writes = lambda: sum(w.done for w in writers)  # noqa: E731
    try:
        before = writes()
        legacy.upgrade(legacy_url, 2, batch_sizes=SMALL_BATCHES)
        during_phase2 = writes() - before
        report = legacy.verify(legacy_url)  # while the writers keep writing to the old tables
        assert report.ok, report.lines()
        assert report.counts["social_notifications -> notifications"][0] > 0
        before = writes()
        legacy.upgrade(legacy_url, 3)
        legacy.upgrade(legacy_url, 4, batch_sizes={"copy_check_ins": 200, "copy_event_stream": 200})
        during_phases34 = writes() - before
    finally:
        for w in writers:
            w.stop.set()
        for w in writers:
            w.join(timeout=60)
    for w in writers:
        assert not w.unexpected, w.unexpected
        assert w.done > 0
    assert any(not w.legacy_mode for w in writers), "the writers never saw the old tables go"
    assert during_phase2 > 20 and during_phases34 > 20, (during_phase2, during_phases34)
    assert legacy.status(legacy_url).version == "L4"
    assert_metrics_equal_recounts(legacy_url)
    with psycopg.connect(legacy_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM check_ins_default").fetchone()[0] == 0
        assert conn.execute("SELECT relkind::text FROM pg_class WHERE relname = 'event_stream'").fetchone()[0] == "p"


def test_verify_reports_a_row_changed_on_either_side_and_phase_3_refuses(legacy_url, run_cli):
    legacy.upgrade(legacy_url, 2)
    assert legacy.verify(legacy_url).ok
    with psycopg.connect(legacy_url, autocommit=True) as conn:
        changed_new = conn.execute("UPDATE notifications SET title = 'edited' WHERE id = "
                                   "(SELECT min(id::text)::uuid FROM notifications) RETURNING id").fetchone()[0]
        # a change on the old side that the mirror did not carry over (its trigger bypassed: the table owner
        # may disable its triggers, as a managed service's admin role can; session_replication_role needs more)
        bypassed = ("notification_preferences", "event_stream")
        for table in bypassed:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        changed_old = conn.execute("UPDATE notification_preferences SET push_enabled = NOT push_enabled WHERE "
                                   "user_id = (SELECT min(user_id::text)::uuid FROM notification_preferences) "
                                   "RETURNING user_id").fetchone()[0]
        lost = conn.execute("DELETE FROM event_stream WHERE id = (SELECT min(a.id::text)::uuid FROM activity_feed a "
                            "WHERE a.activity_type = 'friend_added') RETURNING id").fetchone()[0]
        for table in bypassed:
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    report = legacy.verify(legacy_url)
    found = {(d.comparison, d.key, d.kind) for d in report.differences}
    assert found == {
        ("social_notifications -> notifications", str(changed_new), "changed"),
        ("notification_preferences -> notification_settings", str(changed_old), "changed"),
        ("activity_feed -> event_stream", str(lost), "missing_in_new"),
    }

    out = run_cli("migrate", "verify", "--database-url", legacy_url)
    assert out.returncode == 1
    assert str(changed_new) in out.stdout and "3 difference(s)" in out.stdout

    with pytest.raises(legacy.UpgradeError, match="3 difference"):
        legacy.upgrade(legacy_url, 3)
    state = legacy.status(legacy_url)
    assert state.version == "L2" and "social_notifications" in state.legacy_tables_present


class Interrupt(Exception):
    pass


def test_an_interrupted_backfill_resumes_without_duplicates_and_rerunning_changes_nothing(legacy_url):
    legacy.upgrade(legacy_url, 1)
    seen = []

    def stop_midway(event: legacy.BatchEvent) -> None:
        seen.append(event)
        if event.step == "L2.events_from_activity_feed" and event.batches == 5:
            raise Interrupt()

    with pytest.raises(Interrupt):
        legacy.upgrade(legacy_url, 2, batch_sizes={"events_from_activity_feed": 40}, on_batch=stop_midway)
    state = legacy.status(legacy_url)
    assert state.version == "L1"
    step = next(p for p in state.progress if p.step == "L2.events_from_activity_feed")
    assert step.batches == 5 and step.finished_at is None and step.last_key
    with psycopg.connect(legacy_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM event_stream").fetchone()[0] == step.rows_done
    assert "interrupted" in legacy.plan(legacy_url).summary

    legacy.upgrade(legacy_url, 2, batch_sizes={"events_from_activity_feed": 40})
    assert legacy.verify(legacy_url).ok  # also finds duplicated events per source row
    with psycopg.connect(legacy_url, autocommit=True) as conn:
        total, distinct = conn.execute("SELECT count(*), count(DISTINCT id) FROM event_stream").fetchone()
        assert total == distinct
        feed = conn.execute("SELECT count(*) FROM activity_feed").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM event_stream e WHERE EXISTS "
                            "(SELECT 1 FROM activity_feed a WHERE a.id = e.id)").fetchone()[0] == feed
        before = conn.execute("SELECT count(*) FROM event_stream").fetchone()[0]
        # run every phase-2 backfill again from the start: nothing new
        conn.execute("DELETE FROM venuepulse_upgrade_progress WHERE step LIKE 'L2.%%' AND step <> 'L2.ddl'")
    legacy.run_phase_backfills(legacy_url, 2)
    with psycopg.connect(legacy_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM event_stream").fetchone()[0] == before
    assert legacy.verify(legacy_url).ok


def _legacy_data(url: str) -> dict[str, str]:
    """md5 of every legacy table's rows (flash_offers without claimed_count, which phase 1 corrects)."""
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for table in legacy.LEGACY_TABLES:
            cols = [r[0] for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                "AND NOT attisdropped ORDER BY attname", (table,))]
            cols = [c for c in cols if not (table == "flash_offers" and c == "claimed_count")]
            out[table] = conn.execute(
                f"SELECT md5(string_agg(r::text, ',' ORDER BY r::text)) FROM (SELECT {', '.join(cols)} FROM {table}) r"
            ).fetchone()[0]
    return out


def test_phases_1_and_2_downgrade_cleanly_and_upgrade_again(legacy_url):
    baseline_catalog, baseline_data = describe_catalog(legacy_url), _legacy_data(legacy_url)
    legacy.upgrade(legacy_url, 2)
    phase2_catalog = describe_catalog(legacy_url)

    assert legacy.upgrade(legacy_url, 1) == ("L2", "L1")
    assert legacy.upgrade(legacy_url, 2) == ("L1", "L2")
    assert describe_catalog(legacy_url) == phase2_catalog
    assert legacy.verify(legacy_url).ok

    assert legacy.upgrade(legacy_url, 0) == ("L2", "L0")
    after = describe_catalog(legacy_url)
    assert after == baseline_catalog
    assert _legacy_data(legacy_url) == baseline_data


def test_phase_3_cannot_be_undone(legacy_url):
    legacy.upgrade(legacy_url, 3)
    with pytest.raises(legacy.UpgradeError, match="cannot be undone"):
        legacy.upgrade(legacy_url, 2)
    assert legacy.status(legacy_url).version == "L3"


def test_a_pair_first_seen_after_the_batch_took_its_locks_keeps_a_concurrent_writers_count(legacy_url):
    """The interleaving CI met once: a pair's first check-in commits between the batch's lock statement and
    its recount, and a second check-in to the pair is in flight while the recount runs.  The recount's
    snapshot cannot see the second one; it must not overwrite the row the second one's trigger wrote."""
    legacy.upgrade(legacy_url, 2)
    with psycopg.connect(legacy_url, autocommit=True) as setup:
        user, venue = setup.execute(
            "SELECT u.id, v.id FROM users u CROSS JOIN venues v WHERE NOT EXISTS (SELECT 1 FROM venue_interactions vi "
            "WHERE vi.user_id = u.id AND vi.venue_id = v.id) ORDER BY u.id, v.id LIMIT 1").fetchone()
    everyone = {"last": None, "upper": "ffffffff-ffff-ffff-ffff-ffffffffffff"}
    with psycopg.connect(legacy_url) as batch, psycopg.connect(legacy_url, autocommit=True) as first, \
            psycopg.connect(legacy_url) as second:
        locked = [r["pair"] for r in execute(batch, "legacy.lock_interaction_pairs", everyone)]
        assert f"{user}/{venue}" not in locked
        first.execute("UPDATE check_ins SET is_active = false WHERE user_id = %s AND is_active", (user,))
        first.execute("INSERT INTO check_ins (user_id, venue_id, is_active) VALUES (%s, %s, false)", (user, venue))
        second.execute("INSERT INTO check_ins (user_id, venue_id, is_active) VALUES (%s, %s, false)", (user, venue))
        recount_done = threading.Event()

        def recount() -> None:
            execute(batch, "legacy.backfill_venue_interactions", {**everyone, "locked": locked})
            batch.commit()
            recount_done.set()

        worker = threading.Thread(target=recount)
        worker.start()
        recount_done.wait(2)  # before the fix it waits here for the second writer's row; after, it is done
        second.commit()
        worker.join(30)
        assert recount_done.is_set()
    with psycopg.connect(legacy_url, autocommit=True) as conn:
        assert conn.execute("SELECT check_in_count FROM venue_interactions WHERE user_id = %s AND venue_id = %s",
                            (user, venue)).fetchone() == (2,)
    assert legacy.verify(legacy_url).ok
