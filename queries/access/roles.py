"""The dashboard's PostgreSQL login roles, and the URLs to connect as them.

Migration 0004 makes three NOLOGIN group roles (``venuepulse_reader``, ``venuepulse_owner``,
``venuepulse_signin``) and their grants in each database.  ``ensure_login_roles`` makes the LOGIN roles
the dashboard connects as, members of exactly one group each:

=============================  ==================  ==========================================
login role                     group               used for
=============================  ==================  ==========================================
``venuepulse_dashboard``       venuepulse_reader   product managers' and engineers' pages
``venuepulse_dashboard_owner`` venuepulse_owner    venue owners' pages (row-level security)
``venuepulse_dashboard_signin`` venuepulse_signin  sign-in only (no table access)
=============================  ==================  ==========================================

Roles are cluster-wide; running this again (or from another database on the same server) is harmless.
Passwords are random; they are kept in ``passwords_file`` (mode 0600) when one is given, so that
dashboards already running keep connecting, and are sent to the server only as SCRAM verifiers.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from venuepulse.config import normalize_url
from venuepulse.errors import ConfigError
from venuepulse.queries.core.connect import connect

LOGIN_ROLES = {
    "reader": ("venuepulse_dashboard", "venuepulse_reader"),
    "owner": ("venuepulse_dashboard_owner", "venuepulse_owner"),
    "signin": ("venuepulse_dashboard_signin", "venuepulse_signin"),
    "recorder": ("venuepulse_dashboard_recorder", "venuepulse_recorder"),
}


def url_as(admin_url: str, user: str, password: str | None) -> str:
    """``admin_url`` with its user and password replaced (host, port, database and options kept)."""
    parts = urlsplit(normalize_url(admin_url))
    host = parts.netloc.rpartition("@")[2]
    auth = quote(user, safe="")
    if password:
        auth += ":" + quote(password, safe="")
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if k not in ("user", "password")], safe="/")
    return urlunsplit((parts.scheme, f"{auth}@{host}", parts.path, query, parts.fragment))


def _load_passwords(path: Path | None) -> dict[str, str]:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the dashboard role passwords file {path} is unreadable: {exc}") from None
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str) and v} \
        if isinstance(data, dict) else {}


def _save_passwords(path: Path, passwords: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(passwords, fh)
    os.replace(tmp, path)


def _ensure_role(conn: psycopg.Connection, login: str, group: str, password: str, *, me: str,
                 superuser: bool) -> None:
    """Create or update one login role (as role ``me``), issuing only the changes it needs.

    PostgreSQL 16+ refuses ``ALTER ROLE ... NOSUPERUSER`` (or ``NOBYPASSRLS``) from a non-superuser even
    when nothing would change, and managed services' admin roles are not superusers: attributes and
    memberships are read first and only what differs is changed.
    """
    verifier = conn.pgconn.encrypt_password(password.encode(), login.encode(), b"scram-sha-256").decode()
    ident = sql.Identifier(login)
    found = conn.execute("SELECT rolsuper, rolbypassrls, rolcanlogin, rolinherit, "
                         "'default_transaction_read_only=on' = ANY (coalesce(rolconfig, '{}')) AS read_only "
                         "FROM pg_roles WHERE rolname = %s", (login,)).fetchone()
    if found is None:
        try:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                                 "NOBYPASSRLS INHERIT").format(ident))
        except psycopg.errors.DuplicateObject:
            pass  # created by another process meanwhile (that process sets its attributes the same way)
        found = (False, False, True, True, False)
    is_super, bypasses, can_login, inherits, read_only = found
    if (is_super or bypasses) and not superuser:
        raise ConfigError(f"the dashboard role {login} is a superuser or bypasses row-level security, which only "
                          f"a superuser may undo: run ALTER ROLE {login} NOSUPERUSER NOBYPASSRLS as one")
    changes = (["NOSUPERUSER"] * bool(is_super) + ["NOBYPASSRLS"] * bool(bypasses)
               + ["LOGIN"] * (not can_login) + ["INHERIT"] * (not inherits))
    try:
        conn.execute(sql.SQL("ALTER ROLE {} WITH " + " ".join(changes) + " PASSWORD {}").format(
            ident, sql.Literal(verifier)))
        if group not in ("venuepulse_signin", "venuepulse_recorder") and not read_only:  # these two write, narrowly
            # Belt and braces: the grants already allow only reads; this makes every transaction read-only.
            conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(ident))
        if not _direct_member(conn, login, group):
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), ident))
        # A login role belongs to its one group only (an owner role that could also read as a reader
        # would get around row-level security through the materialized view).
        for other in (g for _, g in LOGIN_ROLES.values() if g != group):
            member = conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (login, other)).fetchone()[0]
            if member:
                conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(other), ident))
    except psycopg.errors.InsufficientPrivilege as exc:
        # PostgreSQL 16+: a CREATEROLE role manages only roles it has ADMIN OPTION on (it gets that on the
        # roles it creates); roles made earlier by a superuser need it granted.
        raise ConfigError(
            f"role {me} may not manage the dashboard role {login} or its group {group} "
            f"({exc.diag.message_primary}): as a superuser run GRANT {login}, {group} TO {me} WITH ADMIN OPTION"
        ) from None


def _direct_member(conn: psycopg.Connection, login: str, group: str) -> bool:
    return bool(conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles l ON l.oid = m.member WHERE g.rolname = %s AND l.rolname = %s)", (group, login)).fetchone()[0])


def ensure_login_roles(admin_url: str, *, passwords_file: Path | str | None = None) -> dict[str, str]:
    """Create or update the dashboard's login roles; return ``{"reader_url", "owner_url", "signin_url", "recorder_url"}``.

    ``admin_url`` must be a role that may create roles (the one migrations run as), on a database
    migrated to 0004 or later.  Without ``passwords_file`` every call sets new random passwords.
    """
    path = Path(passwords_file) if passwords_file is not None else None
    stored = _load_passwords(path)
    passwords = {login: stored.get(login) or secrets.token_urlsafe(24) for login, _ in LOGIN_ROLES.values()}
    with connect(admin_url, autocommit=True) as conn:
        missing = [g for _, g in LOGIN_ROLES.values()
                   if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (g,)).fetchone()]
        if missing:
            raise ConfigError(
                f"role {missing[0]} does not exist: run 'venuepulse migrate' before creating the dashboard roles"
            )
        me, superuser = conn.execute("SELECT rolname, rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        try:
            with conn.transaction():
                for login, group in LOGIN_ROLES.values():
                    _ensure_role(conn, login, group, passwords[login], me=me, superuser=superuser)
                # Migration 0004 does this too, but database-level privileges are not copied by
                # CREATE DATABASE ... TEMPLATE or a plain pg_dump: no temporary tables for the readers.
                conn.execute("DO $$ BEGIN "
                             "EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()); "
                             "EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), current_user); "
                             "END $$")
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ConfigError(
                "the database role in the configured URL may not create roles (CREATEROLE), which the "
                f"dashboard's read-only roles need: {exc.diag.message_primary}"
            ) from None
    if path is not None and passwords != stored:
        _save_passwords(path, passwords)
    return {f"{kind}_url": url_as(admin_url, login, passwords[login]) for kind, (login, _) in LOGIN_ROLES.items()}
