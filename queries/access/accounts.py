"""Dashboard accounts: argon2id hashes, roles, sign-in with a growing delay and a temporary lock.

Management (``add_account``, ``list_accounts``, ``set_password``, ``remove_account``, ...) runs on the
admin connection (the CLI's).  Sign-in (``verify``, ``session_account``, ``account_id_for_email``) runs
through SECURITY DEFINER functions that only the ``venuepulse_signin`` role (and the admin) may call, so
the dashboard's reader and owner roles never see a hash.  Passwords never reach the database, a log or
an error message: only their argon2id hashes are stored.

The throttle lives in the database (``venuepulse_auth.sign_in_lookup`` / ``sign_in_record``), shared by
every session and process: after n >= 2 consecutive failures the next attempt is refused unless
2^(n-2) seconds have passed since the last one, and the 5th failure locks the account for 15 minutes.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from venuepulse.errors import QueryError, VenuePulseError
from venuepulse.queries.access import ROLES
from venuepulse.queries.core.runner import Database

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # bounds the hashing work one request can cause

_hasher = PasswordHasher()  # argon2id with argon2-cffi's RFC 9106 "low memory" defaults
# Verified against when a username is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(VenuePulseError):
    """An account operation was refused; the message says why (never containing a password)."""


# --- validation --------------------------------------------------------------------------------------


def canonical_username(username: Any) -> str:
    """A username as accounts store and compare it: trimmed and lower case ("" for anything but text)."""
    return username.strip().lower() if isinstance(username, str) else ""


def normalize_username(username: str) -> str:
    """The canonical username, or an AccountError saying what is wrong with it."""
    if not isinstance(username, str):
        raise AccountError("the username must be text")
    name = canonical_username(username)
    if not USERNAME_RE.fullmatch(name):
        raise AccountError(
            f"username {username[:80]!r} is not valid: use 1-64 characters a-z, 0-9, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_password(password: str) -> None:
    """Refuse passwords that are too short, too long or contain NUL bytes (the message never echoes it)."""
    if not isinstance(password, str):
        raise AccountError("the password must be text")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password is too short: use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password is too long: use at most {MAX_PASSWORD} characters")
    if "\x00" in password:
        raise AccountError("the password contains a NUL character")
    if not password.strip():
        raise AccountError("the password is only whitespace")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role {str(role)[:40]!r} is not one of {', '.join(ROLES)}")
    return role


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def _write(db: Database, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        return db.run(name, params)
    except QueryError as exc:
        sqlstate = getattr(exc.original, "sqlstate", None)
        if sqlstate in ("42P01", "3F000"):  # undefined table / schema
            raise AccountError(
                "the database has no account tables yet: run 'venuepulse migrate' first"
            ) from exc
        if sqlstate == "23505":
            constraint = getattr(getattr(exc.original, "diag", None), "constraint_name", "") or ""
            what = "e-mail address" if "email" in constraint else "username"
            raise AccountError(f"an account with that {what} already exists") from exc
        raise


# --- management (admin connection) --------------------------------------------------------------------


def resolve_app_user(db: Database, ref: str | UUID) -> dict[str, Any]:
    """The app user ``ref`` (a users.id or users.username) names, with how many venues they own."""
    text = str(ref).strip()
    if not text or "\x00" in text or len(text) > 100:
        raise AccountError("the app user must be a users.id or a users.username")
    row = _write(db, "accounts.app_user", {"ref": text})
    if not row:
        raise AccountError(f"there is no app user {text!r} (give a users.id or users.username)")
    return row[0]


def add_account(db: Database, username: str, password: str, role: str, *, display_name: str = "",
                email: str | None = None, app_user: str | UUID | None = None) -> dict[str, Any]:
    """Create an account.  Venue owners must name the app user (``app_user``) whose venues they see."""
    name = normalize_username(username)
    check_role(role)
    if len(display_name) > 100 or "\x00" in display_name:
        raise AccountError("the display name must be at most 100 characters, without NUL")
    if email is not None:
        email = email.strip().lower()
        if len(email) > 254 or not EMAIL_RE.fullmatch(email):
            raise AccountError(f"{email[:80]!r} is not an e-mail address")
    app_user_id = None
    if role == "venue_owner":
        if app_user is None:
            raise AccountError("a venue_owner account needs the app user who owns the venues (--app-user)")
        app_user_id = resolve_app_user(db, app_user)["id"]
    elif app_user is not None:
        raise AccountError("only venue_owner accounts are linked to an app user")
    rows = _write(db, "accounts.add", {
        "username": name, "display_name": display_name.strip() or name, "email": email, "role": role,
        "app_user_id": app_user_id, "password_hash": hash_password(password),
    })
    return rows[0]


def list_accounts(db: Database) -> list[dict[str, Any]]:
    """Every account, without hashes."""
    return _write(db, "accounts.list", {})


def get_account(db: Database, username: str) -> dict[str, Any] | None:
    rows = _write(db, "accounts.get", {"username": normalize_username(username)})
    return rows[0] if rows else None


def _by_name(db: Database, query: str, username: str, extra: dict[str, Any] | None = None) -> None:
    name = normalize_username(username)
    if not _write(db, query, {"username": name, **(extra or {})}):
        raise AccountError(f"there is no account named {name!r}")


def set_password(db: Database, username: str, password: str) -> None:
    """Replace the password (and lift any lock)."""
    _by_name(db, "accounts.set_password", username, {"password_hash": hash_password(password)})


def unlock(db: Database, username: str) -> None:
    _by_name(db, "accounts.unlock", username)


def set_disabled(db: Database, username: str, disabled: bool) -> None:
    _by_name(db, "accounts.set_disabled", username, {"disabled": bool(disabled)})


def remove_account(db: Database, username: str) -> None:
    _by_name(db, "accounts.remove", username)


def owner_venue_ids(db: Database, account: Any) -> list[UUID]:
    """The venues a venue-owner account sees (empty for other roles, disabled or unlinked accounts).

    ``account`` is a username or anything with a ``username`` attribute (such as dashboard.context.Account).
    """
    username = account if isinstance(account, str) else getattr(account, "username", None)
    if username is None:
        raise AccountError("owner_venue_ids needs an account or a username")
    rows = _write(db, "accounts.owner_venue_ids", {"username": normalize_username(username)})
    return [r["venue_id"] for r in rows]


DEMO_ACCOUNTS = (
    ("demo-pm", "pm", "Demo product manager"),
    ("demo-engineer", "engineer", "Demo engineer"),
    ("demo-owner", "venue_owner", "Demo venue owner"),
)


def create_demo_accounts(db: Database, venue_owner_user_id: UUID | str | None = None,
                         *, reset: bool = False) -> list[tuple[str, str, str]]:
    """One demo account per role with random passwords; returns ``[(username, role, password), ...]``.

    Only accounts that do not exist yet are created (and returned), so passwords changed with
    ``venuepulse users set-password`` survive restarts; ``reset=True`` gives all three new passwords.
    The owner account is linked to ``venue_owner_user_id`` (an app user id or username), or by default
    to an app user who owns a few venues.  Print the passwords once; never log them.
    """
    if venue_owner_user_id is not None:
        app_user_id = resolve_app_user(db, venue_owner_user_id)["id"]
    else:
        app_user_id = db.scalar("accounts.demo_owner_user")
    out = []
    for username, role, display in DEMO_ACCOUNTS:
        if not reset and get_account(db, username) is not None:
            continue
        password = secrets.token_urlsafe(12)
        _write(db, "accounts.upsert_demo", {
            "username": username, "display_name": display, "role": role,
            "app_user_id": app_user_id if role == "venue_owner" else None,
            "password_hash": hash_password(password),
        })
        out.append((username, role, password))
    return out


# --- sign-in (signin connection) ----------------------------------------------------------------------


@dataclass(frozen=True)
class SignInResult:
    """``status``: ok | invalid (wrong name or password) | wait (too soon after a failure) | locked."""

    status: str
    account_id: int | None = None
    retry_after: float = 0.0  # seconds until another attempt is accepted (wait, locked)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def message(self) -> str:
        """What to tell the person at the sign-in form."""
        if self.status == "ok":
            return "Signed in."
        if self.status == "locked":
            minutes = max(1, round(self.retry_after / 60))
            return (f"Too many failed attempts: this account is locked for about {minutes} minute"
                    f"{'s' if minutes != 1 else ''}. Ask an administrator to unlock it sooner.")
        if self.status == "wait":
            return f"Too many failed attempts: wait {max(1, round(self.retry_after))} s and try again."
        return "Wrong username or password."


def verify(db: Database, username: str, password: str) -> SignInResult:
    """Check a sign-in attempt and record its outcome (throttle and lock are the database's)."""
    name = canonical_username(username)
    if (not USERNAME_RE.fullmatch(name) or not isinstance(password, str) or not password
            or len(password) > MAX_PASSWORD or "\x00" in password):
        _burn(password)
        return SignInResult("invalid")
    rows = db.run("accounts.sign_in_lookup", {"username": name})
    if not rows:
        _burn(password)
        return SignInResult("invalid")
    row = rows[0]
    if row["wait_seconds"] > 0:
        return SignInResult("locked" if row["locked"] else "wait", row["account_id"], float(row["wait_seconds"]))
    try:
        _hasher.verify(row["password_hash"], password)
        ok = True
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    rec = db.run("accounts.sign_in_record", {"account_id": row["account_id"], "success": ok})[0]
    if ok:
        return SignInResult("ok", row["account_id"])
    if rec["locked_seconds"] > 0:
        return SignInResult("locked", row["account_id"], float(rec["locked_seconds"]))
    return SignInResult("invalid", row["account_id"])


def _burn(password: Any) -> None:
    """Spend as long as a real verification, so unknown names cannot be told apart by timing."""
    try:
        _hasher.verify(_DUMMY_HASH, password if isinstance(password, str) else "")
    except (VerificationError, InvalidHashError, ValueError, TypeError):
        pass


def session_account(db: Database, account_id: int) -> dict[str, Any] | None:
    """The signed-in account as it is now (None once disabled or removed), with an owner's venue ids."""
    rows = db.run("accounts.session_account", {"account_id": int(account_id)})
    return rows[0] if rows else None


def account_id_for_email(db: Database, email: str) -> int | None:
    """The enabled account whose e-mail is ``email`` (for OpenID Connect sign-in), or None."""
    if not isinstance(email, str) or not EMAIL_RE.fullmatch(email.strip()) or len(email) > 254:
        return None
    return db.scalar("accounts.id_for_email", {"email": email.strip().lower()})


def connection_scope(db: Database) -> dict[str, Any]:
    """Which role ``db`` connects as and whether row-level security scopes it (venue owners' must be)."""
    return db.run("accounts.connection_scope", {})[0]
