"""The app around the pages: sign-in, navigation by role, one error boundary per page."""

from __future__ import annotations

import logging
import os
import uuid

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from venuepulse.dashboard.context import (
    Account,
    PageContext,
    ScopedDatabase,
    dashboard_url,
    owner_url,
    replica_url,
)
from venuepulse.dashboard.views import PAGES, PageSpec, pages_for
from venuepulse.errors import DatabaseUnavailable, VenuePulseError
from venuepulse.queries.core.reads import ReadRouter, ReplicaUnavailable
from venuepulse.queries.core.runner import Database

log = logging.getLogger("venuepulse.dashboard")


@st.cache_resource(show_spinner=False)
def _database(url: str) -> Database:
    # The dashboard's roles may only read: its timings are written by the recorder role when one is
    # configured (`venuepulse up` / `dashboard` do), and not recorded otherwise.
    recorder = os.environ.get("VENUEPULSE_RECORDER_DATABASE_URL")
    return Database(url, max_size=8, application_name="venuepulse-dashboard", record=bool(recorder),
                    recorder_url=recorder).open()


@st.cache_resource(show_spinner=False)
def _reads(url: str, read_url: str | None, fallback: bool) -> ReadRouter:
    """The read role's router: the replica when one is configured, the primary while it is unreachable."""
    replica = None
    if read_url:
        recorder = os.environ.get("VENUEPULSE_RECORDER_DATABASE_URL")  # on the primary: a standby takes no writes
        replica = Database(read_url, max_size=8, application_name="venuepulse-dashboard", record=bool(recorder),
                           recorder_url=recorder)
    return ReadRouter(_database(url), replica, fallback=fallback)


# Pages about the primary server itself (its sessions, locks, vacuum): they read it, not the replica.
PRIMARY_PAGES = frozenset({"database_health"})
READS_KEY = "vp_reads"  # the page's ReadRouter, for widgets.freshness's "as of" line
_SHOWN_SOURCE_KEY = "vp_read_source_shown"  # where the top of the page said it reads from


def context_for(account: Account, page: str | None = None) -> PageContext:
    from venuepulse.config import read_fallback

    url = owner_url() if account.is_owner else dashboard_url()
    read_url = None if page in PRIMARY_PAGES else replica_url(url)
    reads = _reads(url, read_url, read_fallback())
    return PageContext(account=account, db=ScopedDatabase(reads, account), reads=reads)


def _read_source(ctx: PageContext) -> bool:
    """Say where the page reads from when a replica is configured; False when the page must not be drawn."""
    reads = ctx.reads
    st.session_state[READS_KEY] = reads
    if reads is None or reads.replica is None:
        return True
    status = reads.status()
    st.session_state[_SHOWN_SOURCE_KEY] = status.source
    if status.source == "refused":
        st.error(f"This page is not shown: {reads.refusal()}. Start the replica (`venuepulse db replica start`) "
                 "or set read_fallback = true.", icon=":material/sync_problem:")
        return False
    if status.source == "fallback":
        st.warning(status.describe(), icon=":material/sync_problem:")
    else:
        st.caption(status.describe())
    return True


def _replica_lost_while_drawing(ctx: PageContext) -> None:
    """The line at the top said "read from the replica" (its status is cached for a second); when the
    replica stopped answering while the page was drawn, its reads went to the primary: say so."""
    reads = ctx.reads
    if reads is None or reads.replica is None or reads.served["primary"] == 0:
        return
    status = reads.status()
    if status.source == "fallback" and st.session_state.get(_SHOWN_SOURCE_KEY) == "replica":
        st.warning(status.describe(), icon=":material/sync_problem:")


def render_page(key: str, account: Account) -> None:
    """Draw one page for ``account`` inside the error boundary: no traceback ever reaches the browser."""
    spec = next((p for p in PAGES if p.key == key), None)
    if spec is None or account.role not in spec.roles:
        st.error("This page does not exist or is not available to your role.")
        return
    try:
        ctx = context_for(account, key)
        if _read_source(ctx):
            spec.render_function()(ctx)
            _replica_lost_while_drawing(ctx)
    except ScriptControlException:
        raise  # st.rerun / st.stop are how Streamlit works, not errors
    except ReplicaUnavailable as exc:
        st.error(f"This page cannot be shown: {exc}.")
    except DatabaseUnavailable as exc:
        st.error(f"The database is not reachable right now, so this page cannot be shown. {exc}")
    except VenuePulseError as exc:
        st.error(f"This page could not load its data: {exc}")
    except Exception:
        ref = uuid.uuid4().hex[:8]
        log.exception("page %s failed (ref %s)", key, ref)
        st.error(f"Something went wrong while drawing this page. It has been logged with reference {ref}.")


def _page(spec: PageSpec, account: Account) -> st.Page:
    def draw() -> None:
        render_page(spec.key, account)

    draw.__name__ = f"page_{spec.key}"
    return st.Page(draw, title=spec.title, icon=spec.icon, url_path=spec.key, default=spec is pages_for(account.role)[0])


def main() -> None:
    from venuepulse.dashboard import auth

    st.set_page_config(page_title="VenuePulse", page_icon=":material/monitoring:", layout="wide")
    account = auth.current_account()
    if account is None:
        st.navigation([st.Page(auth.sign_in_page, title="Sign in", icon=":material/login:", url_path="sign-in")],
                      position="hidden").run()
        return
    # Only the pages this role may see are routable at all: others cannot be opened by URL.
    nav = st.navigation([_page(p, account) for p in pages_for(account.role)])
    with st.sidebar:
        auth.account_box(account)
    nav.run()
