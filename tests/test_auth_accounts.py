"""Dashboard accounts: argon2id hashes, throttled sign-in with a temporary lock, management and the CLI."""

from __future__ import annotations

import psycopg
import pytest

from tests.fixtures.access_world import build_world
from venuepulse.queries.access import accounts
from venuepulse.queries.access.roles import ensure_login_roles
from venuepulse.queries.core.runner import Database

PASSWORD = "correct horse battery"


@pytest.fixture
def admin(db_url):
    with Database(db_url, max_size=2) as db:
        yield db


@pytest.fixture
def signin(db_url):
    urls = ensure_login_roles(db_url)
    with Database(urls["signin_url"], max_size=2) as db:
        yield db


def _age_last_failure(conn, username: str, seconds: int = 3600) -> None:
    """Move the last failure into the past, as if the person had waited."""
    conn.execute("UPDATE venuepulse_auth.accounts SET last_failed_at = last_failed_at - make_interval(secs => %s) "
                 "WHERE username = %s", (seconds, username))


def test_accounts_store_only_an_argon2id_hash(admin, conn):
    accounts.add_account(admin, "Alice", PASSWORD, "pm", display_name="Alice A.")
    stored = conn.execute("SELECT username, password_hash FROM venuepulse_auth.accounts").fetchall()
    assert stored[0][0] == "alice"
    assert stored[0][1].startswith("$argon2id$")
    assert PASSWORD not in stored[0][1]
    listed = accounts.list_accounts(admin)
    assert [a["username"] for a in listed] == ["alice"]
    assert all("hash" not in k for k in listed[0])
    assert PASSWORD not in repr(listed)


def test_right_password_signs_in_and_wrong_one_does_not(admin, signin):
    accounts.add_account(admin, "bob", PASSWORD, "engineer")
    assert accounts.verify(signin, "bob", "wrong password!").status == "invalid"
    ok = accounts.verify(signin, "Bob ", PASSWORD)
    assert ok.ok and ok.account_id is not None
    row = accounts.session_account(signin, ok.account_id)
    assert (row["username"], row["role"], row["venue_ids"]) == ("bob", "engineer", [])


@pytest.mark.parametrize("username", ["nobody", "", "' OR 1=1 --", "a\x00b", "x" * 5000, "%", "bob%"])
def test_unknown_or_crafted_usernames_get_the_same_answer_as_a_wrong_password(admin, signin, username):
    accounts.add_account(admin, "bob", PASSWORD, "engineer")
    result = accounts.verify(signin, username, PASSWORD)
    assert result.status == "invalid"
    assert result.message() == "Wrong username or password."


def test_repeated_failures_grow_the_delay_then_lock_and_the_lock_expires(admin, signin, conn):
    accounts.add_account(admin, "carol", PASSWORD, "pm")
    assert accounts.verify(signin, "carol", "nope nope 1").status == "invalid"  # 1st: no delay yet
    assert accounts.verify(signin, "carol", "nope nope 2").status == "invalid"  # 2nd failure
    too_soon = accounts.verify(signin, "carol", PASSWORD)  # refused without checking, even if right
    assert too_soon.status == "wait" and 0 < too_soon.retry_after <= 1
    delays = []
    for n in (3, 4):
        _age_last_failure(conn, "carol")
        assert accounts.verify(signin, "carol", f"nope nope {n}").status == "invalid"
        delays.append(accounts.verify(signin, "carol", PASSWORD).retry_after)
    assert delays[0] < delays[1] <= 4  # 2 s after the 3rd failure, 4 s after the 4th
    _age_last_failure(conn, "carol")
    locked = accounts.verify(signin, "carol", "nope nope 5")
    assert locked.status == "locked" and 14 * 60 < locked.retry_after <= 15 * 60
    assert "locked" in locked.message()
    _age_last_failure(conn, "carol")
    assert accounts.verify(signin, "carol", PASSWORD).status == "locked"  # the right password does not help
    conn.execute("UPDATE venuepulse_auth.accounts SET locked_until = now() - interval '1 second' "
                 "WHERE username = 'carol'")
    assert accounts.verify(signin, "carol", PASSWORD).ok
    assert conn.execute("SELECT failed_attempts, locked_until FROM venuepulse_auth.accounts").fetchone() == (0, None)


def test_a_success_resets_the_failure_count(admin, signin, conn):
    accounts.add_account(admin, "dave", PASSWORD, "pm")
    for n in range(3):
        _age_last_failure(conn, "dave")
        accounts.verify(signin, "dave", f"wrong wrong {n}")
    _age_last_failure(conn, "dave")
    assert accounts.verify(signin, "dave", PASSWORD).ok
    assert accounts.verify(signin, "dave", "wrong again!").status == "invalid"
    assert accounts.verify(signin, "dave", PASSWORD).ok  # one failure: no delay


def test_set_password_and_unlock_lift_a_lock(admin, signin, conn):
    accounts.add_account(admin, "erin", PASSWORD, "pm")
    for n in range(5):
        _age_last_failure(conn, "erin")
        accounts.verify(signin, "erin", f"wrong wrong {n}")
    assert accounts.verify(signin, "erin", PASSWORD).status == "locked"
    accounts.unlock(admin, "erin")
    assert accounts.verify(signin, "erin", PASSWORD).ok
    accounts.set_password(admin, "erin", "a brand new secret")
    assert accounts.verify(signin, "erin", PASSWORD).status == "invalid"
    assert accounts.verify(signin, "erin", "a brand new secret").ok


def test_disabled_and_removed_accounts_cannot_sign_in_and_lose_their_session(admin, signin):
    accounts.add_account(admin, "frank", PASSWORD, "pm")
    session = accounts.verify(signin, "frank", PASSWORD).account_id
    accounts.set_disabled(admin, "frank", True)
    assert accounts.session_account(signin, session) is None
    assert accounts.verify(signin, "frank", PASSWORD).status == "invalid"
    accounts.set_disabled(admin, "frank", False)
    assert accounts.session_account(signin, session) is not None
    accounts.remove_account(admin, "frank")
    assert accounts.session_account(signin, session) is None
    with pytest.raises(accounts.AccountError, match="no account named 'frank'"):
        accounts.remove_account(admin, "frank")


def test_owner_accounts_see_the_venues_their_app_user_owns(admin, signin, conn):
    w = build_world(conn)
    accounts.add_account(admin, "owner-a", PASSWORD, "venue_owner", app_user=w.a.owner_user_id)
    lonely_username = conn.execute("SELECT username FROM users WHERE id = %s", (w.lonely_owner,)).fetchone()[0]
    accounts.add_account(admin, "owner-none", PASSWORD, "venue_owner", app_user=lonely_username)
    assert accounts.owner_venue_ids(admin, "owner-a") == [w.a.venue_id]
    assert accounts.owner_venue_ids(admin, "owner-none") == []
    sid = accounts.verify(signin, "owner-a", PASSWORD).account_id
    assert accounts.session_account(signin, sid)["venue_ids"] == [w.a.venue_id]
    conn.execute("INSERT INTO venue_owners (venue_id, user_id) VALUES (%s, %s)", (w.b.venue_id, w.a.owner_user_id))
    assert set(accounts.session_account(signin, sid)["venue_ids"]) == {w.a.venue_id, w.b.venue_id}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"username": "has space"}, "username 'has space' is not valid"),
    ({"username": "x" * 65}, "is not valid"),
    ({"password": "short"}, "too short"),
    ({"password": "x" * 2000}, "too long"),
    ({"password": "abc\x00defgh"}, "NUL"),
    ({"role": "admin"}, "role 'admin' is not one of pm, engineer, venue_owner"),
    ({"role": "venue_owner"}, "needs the app user"),
    ({"role": "venue_owner", "app_user": "ghost"}, "there is no app user 'ghost'"),
    ({"app_user": "someone"}, "only venue_owner accounts"),
    ({"email": "not-an-email"}, "is not an e-mail address"),
])
def test_bad_account_input_is_refused_with_a_clear_reason(admin, kwargs, message):
    args = {"username": "gina", "password": PASSWORD, "role": "pm", **kwargs}
    with pytest.raises(accounts.AccountError, match=message) as err:
        accounts.add_account(admin, args.pop("username"), args.pop("password"), args.pop("role"), **args)
    assert PASSWORD not in str(err.value)


def test_duplicate_usernames_and_emails_are_refused(admin):
    accounts.add_account(admin, "hank", PASSWORD, "pm", email="hank@example.com")
    with pytest.raises(accounts.AccountError, match="username already exists"):
        accounts.add_account(admin, "HANK", PASSWORD, "engineer")
    with pytest.raises(accounts.AccountError, match="e-mail address already exists"):
        accounts.add_account(admin, "hank2", PASSWORD, "engineer", email="Hank@Example.com")


def test_identity_provider_emails_map_to_enabled_accounts(admin, signin):
    accounts.add_account(admin, "ivy", PASSWORD, "engineer", email="ivy@example.com")
    aid = accounts.account_id_for_email(signin, "IVY@example.com")
    assert accounts.session_account(signin, aid)["username"] == "ivy"
    assert accounts.account_id_for_email(signin, "someone@example.com") is None
    assert accounts.account_id_for_email(signin, "' OR 1=1 --") is None
    accounts.set_disabled(admin, "ivy", True)
    assert accounts.account_id_for_email(signin, "ivy@example.com") is None


def test_demo_accounts_cover_every_role_and_are_created_once(admin, signin, conn):
    w = build_world(conn)
    first = accounts.create_demo_accounts(admin, w.a.owner_user_id)
    assert [(u, r) for u, r, _ in first] == [("demo-pm", "pm"), ("demo-engineer", "engineer"),
                                             ("demo-owner", "venue_owner")]
    for username, _, password in first:
        assert len(password) >= 16
        assert accounts.verify(signin, username, password).ok
    assert accounts.owner_venue_ids(admin, "demo-owner") == [w.a.venue_id]
    assert accounts.create_demo_accounts(admin) == []  # a restart keeps them (and changed passwords)
    assert accounts.verify(signin, "demo-pm", first[0][2]).ok
    again = accounts.create_demo_accounts(admin, reset=True)
    assert {p for *_, p in first}.isdisjoint({p for *_, p in again})
    assert accounts.verify(signin, "demo-pm", first[0][2]).status == "invalid"


def test_demo_owner_defaults_to_an_app_user_who_owns_venues(admin, conn):
    w = build_world(conn)
    conn.execute("INSERT INTO venue_owners (venue_id, user_id) VALUES (%s, %s)", (w.b.venue_id, w.a.owner_user_id))
    accounts.create_demo_accounts(admin)
    assert set(accounts.owner_venue_ids(admin, "demo-owner")) == {w.a.venue_id, w.b.venue_id}


def test_the_signin_role_can_only_call_the_signin_functions(admin, db_url):
    accounts.add_account(admin, "jack", PASSWORD, "pm")
    urls = ensure_login_roles(db_url)
    with psycopg.connect(urls["signin_url"], autocommit=True) as c:
        for sql in ("SELECT * FROM venuepulse_auth.accounts", "SELECT * FROM venues",
                    "UPDATE venuepulse_auth.accounts SET role = 'engineer'"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(sql)


# --- the CLI ---------------------------------------------------------------------------------------------


def test_cli_users_add_list_set_password_remove(run_cli, db_url, admin, signin):
    env = {"VENUEPULSE_DATABASE_URL": db_url}

    def cli(*args, stdin=None):
        return run_cli(*args, env=env, input=stdin)

    added = cli("users", "add", "kim", "--role", "engineer", "--display-name", "Kim K", "--password-stdin",
                stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr
    assert accounts.verify(signin, "kim", PASSWORD).ok

    listed = cli("users", "list")
    assert listed.returncode == 0, listed.stderr
    assert "kim" in listed.stdout and "engineer" in listed.stdout and "argon2" not in listed.stdout

    changed = cli("users", "set-password", "kim", "--password-stdin", stdin="another long secret\n")
    assert changed.returncode == 0, changed.stderr
    assert accounts.verify(signin, "kim", "another long secret").ok

    no_tty = cli("users", "set-password", "kim")
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr

    short = cli("users", "add", "lee", "--role", "pm", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "too short" in short.stderr and "short\n" not in short.stderr

    removed = cli("users", "remove", "kim")
    assert removed.returncode == 0, removed.stderr
    assert accounts.list_accounts(admin) == []
    again = cli("users", "remove", "kim")
    assert again.returncode == 2 and "no account named 'kim'" in again.stderr
