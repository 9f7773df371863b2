"""Where the database is: URL resolution (flag > env > secrets.toml > embedded) and the data dir."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from venuepulse.errors import ConfigError, redact_url

ENV_URL = "VENUEPULSE_DATABASE_URL"
ENV_DATA_DIR = "VENUEPULSE_DATA_DIR"
ENV_READ_URL = "VENUEPULSE_READ_DATABASE_URL"
ENV_READ_FALLBACK = "VENUEPULSE_READ_FALLBACK"
SECRETS_PATH = Path(".streamlit") / "secrets.toml"

_SCHEMES = {
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "postgresql+psycopg": "postgresql",
    "postgresql+psycopg2": "postgresql",
    "postgres+psycopg": "postgresql",
}


def data_dir() -> Path:
    """Directory holding VenuePulse's local state (the embedded cluster lives in ``<data_dir>/pg``)."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_data_dir("venuepulse")).resolve()


def normalize_url(url: str, source: str = "the database URL") -> str:
    """Validate ``url`` and return its libpq form (``postgresql://...``) usable by psycopg and psql."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{source} is empty; expected a postgresql:// URL.")
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise ConfigError(
            f"{source} {redact_url(url)!r} is not a PostgreSQL URL; "
            "expected postgresql://user:password@host:port/dbname."
        )
    try:
        urlsplit(url).port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ConfigError(f"{source} {redact_url(url)!r} is malformed: {exc}.") from None
    return f"postgresql://{rest}"


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy form of a URL: ``postgresql+psycopg://...``."""
    return "postgresql+psycopg://" + normalize_url(url).partition("://")[2]


def _secrets(cwd: Path | None = None) -> tuple[Path, dict]:
    path = (cwd or Path.cwd()) / SECRETS_PATH
    if not path.is_file():
        return path, {}
    try:
        return path, tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} could not be read as TOML: {exc}.") from None


def _secrets_url(cwd: Path | None = None) -> str | None:
    path, data = _secrets(cwd)
    url = data.get("database_url")
    if not url:
        url = data.get("connections", {}).get("venuepulse", {}).get("url")
    if url is not None and not isinstance(url, str):
        raise ConfigError(f"{path}: the database URL must be a string.")
    return url or None


def resolve_database_url(flag: str | None = None) -> tuple[str, str]:
    """Return ``(url, source)``; source is ``flag``, ``env``, ``secrets`` or ``embedded``.

    For ``embedded`` the URL is an empty string: call :func:`get_database_url` to start the server.
    """
    if flag:
        return normalize_url(flag, "--database-url"), "flag"
    env = os.environ.get(ENV_URL)
    if env:
        return normalize_url(env, ENV_URL), "env"
    secret = _secrets_url()
    if secret:
        return normalize_url(secret, str(SECRETS_PATH)), "secrets"
    return "", "embedded"


def get_database_url(flag: str | None = None, start_embedded: bool = True) -> str:
    """Resolve the URL; for the embedded default start (or reuse) the local server and return its URL."""
    url, source = resolve_database_url(flag)
    if source != "embedded":
        return url
    from venuepulse import embedded

    if start_embedded:
        return embedded.ensure_running(data_dir())
    found = embedded.current_url(data_dir())
    if found is None:
        raise ConfigError(f"the embedded PostgreSQL in {data_dir()} is not running; run 'venuepulse db start'.")
    return found


# -- the read replica (docs/scaling.md, "Read replica") ------------------------------------------------------


def resolve_read_database_url() -> tuple[str | None, str]:
    """The read server's URL for the dashboard's read roles: ``(url, source)`` from the environment
    (``VENUEPULSE_READ_DATABASE_URL``) or ``read_database_url`` in secrets.toml; ``(None, "none")`` when unset."""
    env = os.environ.get(ENV_READ_URL)
    if env:
        return normalize_url(env, ENV_READ_URL), "env"
    path, data = _secrets()
    url = data.get("read_database_url")
    if url is not None and not isinstance(url, str):
        raise ConfigError(f"{path}: read_database_url must be a string.")
    if url:
        return normalize_url(url, f"{path}: read_database_url"), "secrets"
    return None, "none"


_BOOLS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def read_fallback() -> bool:
    """Whether the dashboard reads from the primary while the replica is unreachable (default true):
    ``VENUEPULSE_READ_FALLBACK`` or ``read_fallback`` in secrets.toml."""
    env = os.environ.get(ENV_READ_FALLBACK)
    if env is not None and env.strip():
        value = _BOOLS.get(env.strip().lower())
        if value is None:
            raise ConfigError(f"{ENV_READ_FALLBACK} must be true or false, not {env[:20]!r}.")
        return value
    path, data = _secrets()
    value = data.get("read_fallback", True)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: read_fallback must be true or false.")
    return value
