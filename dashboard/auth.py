"""Signing in to the dashboard: who is signed in, the sign-in page, and the signed-in box with sign-out.

Password sign-in checks argon2id hashes through the database's sign-in functions (see
queries/accounts.py), which also throttle and lock.  Where ``.streamlit/secrets.toml`` has an ``[auth]``
section, OpenID Connect (``st.login``) signs people in instead and the identity's e-mail maps to an
account.  The account is re-read on every run, so disabling or removing it signs the person out at once.

Connections: ``VENUEPULSE_SIGNIN_DATABASE_URL`` (the ``venuepulse_dashboard_signin`` role, which may only
call the sign-in functions) or else the administrative URL (``VENUEPULSE_DATABASE_URL`` and friends).  A venue owner is let in only when the owner
connection really is restricted by row-level security; otherwise sign-in is refused, never widened.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import streamlit as st

from venuepulse.dashboard.context import Account, owner_url
from venuepulse.errors import DatabaseUnavailable, VenuePulseError
from venuepulse.queries.access import accounts
from venuepulse.queries.core.runner import Database

log = logging.getLogger("venuepulse.auth")

SESSION_KEY = "vp_account_id"
NOTICE_KEY = "vp_auth_notice"
ROLE_LABELS = {"pm": "Product manager", "engineer": "Engineer", "venue_owner": "Venue owner"}


def signin_url() -> str:
    """The sign-in role's URL, else the administrative one (never the reader's: it cannot see accounts)."""
    from venuepulse.config import get_database_url

    return os.environ.get("VENUEPULSE_SIGNIN_DATABASE_URL") or get_database_url(None)


@st.cache_resource(show_spinner=False)
def _database(url: str) -> Database:
    return Database(url, record=False, min_size=1, max_size=4, application_name="venuepulse-signin").open()


def signin_database() -> Database:
    """The sign-in role's database: account state a signed-in person may change (owners' weekly report)."""
    return _database(signin_url())


@st.cache_data(ttl=300, show_spinner=False)
def _owner_connection_is_scoped(url: str) -> bool:
    scope = accounts.connection_scope(_database(url))
    return bool(scope["scoped"]) and not scope["superuser"]


# --- OpenID Connect -------------------------------------------------------------------------------------


def _auth_secrets() -> Mapping[str, Any] | None:
    try:
        section = st.secrets.get("auth")
    except (FileNotFoundError, KeyError, ValueError):
        return None
    except Exception as exc:  # a malformed secrets.toml must not break the sign-in page
        log.warning("could not read .streamlit/secrets.toml: %s", type(exc).__name__)
        return None
    return section if isinstance(section, Mapping) else None


def oidc_providers() -> list[str | None]:
    """Providers of the ``[auth]`` section: None for a single unnamed one, else the sub-section names."""
    section = _auth_secrets()
    if section is None:
        return []
    named = [k for k, v in section.items() if isinstance(v, Mapping)]
    if named:
        return named
    return [None] if "client_id" in section else []


def _oidc_logged_in() -> bool:
    try:
        return bool(st.user.is_logged_in)
    except (AttributeError, KeyError):
        return False


# --- the three functions the shell calls ----------------------------------------------------------------


def current_account() -> Account | None:
    """The signed-in account, re-read from the database; None when nobody (valid) is signed in."""
    try:
        return _current_account()
    except DatabaseUnavailable as exc:
        st.error(f"The database is not reachable, so nobody can be signed in right now. {exc}")
        st.stop()
    except VenuePulseError as exc:
        log.error("sign-in lookup failed: %s", exc)
        st.error("Sign-in is not available: the dashboard cannot read accounts. "
                 "An administrator should check its database roles (see docs/access.md).")
        st.stop()
    return None


def _current_account() -> Account | None:
    db = _database(signin_url())
    account_id = st.session_state.get(SESSION_KEY)
    if oidc_providers() and account_id is None and _oidc_logged_in():
        email = st.user.get("email")
        account_id = accounts.account_id_for_email(db, email) if isinstance(email, str) else None
        if account_id is None:
            st.session_state[NOTICE_KEY] = ("warning", "You are signed in with your identity provider, but no "
                                            "VenuePulse account has that e-mail address. Ask an administrator.")
            return None
        st.session_state[SESSION_KEY] = account_id
    if account_id is None:
        return None
    row = accounts.session_account(db, account_id)
    if row is None:  # removed or disabled meanwhile
        _forget()
        st.session_state[NOTICE_KEY] = ("info", "Your account is no longer active; you have been signed out.")
        return None
    account = Account(username=row["username"], role=row["role"], display_name=row["display_name"],
                      venue_ids=tuple(row["venue_ids"] or ()))
    if account.is_owner and not _owner_connection_is_scoped(owner_url()):
        log.error("refused venue-owner sign-in of %s: the owner database URL is not a venuepulse_owner role",
                  account.username)
        _forget()
        st.session_state[NOTICE_KEY] = (
            "error", "Venue-owner sign-in is unavailable: the dashboard's owner connection is not restricted "
                     "to owners' venues. An administrator must set VENUEPULSE_OWNER_DATABASE_URL (docs/access.md).")
        return None
    return account


def _forget() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def sign_in_page() -> None:
    """The only page routable before sign-in."""
    st.title("Sign in to VenuePulse")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        kind, text = notice
        getattr(st, kind, st.info)(text)
    providers = oidc_providers()
    if providers:
        if _oidc_logged_in():
            st.button("Sign out of the identity provider", on_click=st.logout, key="vp_oidc_logout")
            return
        for provider in providers:
            label = f"Sign in with {provider}" if provider else "Sign in"
            if st.button(label, key=f"vp_oidc_{provider or 'default'}", type="primary"):
                st.login(provider) if provider else st.login()
        return
    with st.form("vp_sign_in", clear_on_submit=True):  # the password does not linger in widget state
        username = st.text_input("Username", max_chars=64, autocomplete="username")
        password = st.text_input("Password", type="password", max_chars=accounts.MAX_PASSWORD,
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    if not username.strip() or not password:
        st.error("Enter your username and password.")
        return
    try:
        result = accounts.verify(_database(signin_url()), username, password)
    except DatabaseUnavailable as exc:
        st.error(f"The database is not reachable, so you cannot sign in right now. {exc}")
        return
    except VenuePulseError as exc:
        log.error("sign-in failed to run: %s", exc)
        st.error("Sign-in is not available right now; an administrator should check the dashboard's "
                 "database roles (see docs/access.md).")
        return
    if result.ok:
        log.info("signed in: account %s", result.account_id)
        st.session_state[SESSION_KEY] = result.account_id
        st.rerun()
    log.info("sign-in refused (%s) for username %r", result.status, accounts.canonical_username(username)[:64])
    st.error(result.message())


def sign_out() -> None:
    was_oidc = bool(oidc_providers()) and _oidc_logged_in()
    _forget()
    st.session_state[NOTICE_KEY] = ("success", "You have signed out.")
    if was_oidc:
        st.logout()
    else:
        st.rerun()


def account_box(account: Account) -> None:
    """Who is signed in, and a sign-out button (in the sidebar)."""
    st.text(account.display_name or account.username)
    caption = f"{ROLE_LABELS.get(account.role, account.role)} · {account.username}"
    if account.is_owner:
        n = len(account.venue_ids)
        caption += f" · {n} venue{'s' if n != 1 else ''}"
    st.caption(caption)
    if st.button("Sign out", key="vp_sign_out", icon=":material/logout:"):
        sign_out()
