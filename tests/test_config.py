"""Where the database URL comes from, and how bad configuration is reported."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from venuepulse.config import data_dir, normalize_url, resolve_database_url, sqlalchemy_url
from venuepulse.errors import ConfigError, QueryError, redact_url

FLAG = "postgresql://flag@h1/db1"
ENV = "postgresql://env@h2/db2"
SECRET = "postgresql://secret@h3/db3"


@pytest.fixture
def clean(monkeypatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("VENUEPULSE_DATABASE_URL", raising=False)
    monkeypatch.delenv("VENUEPULSE_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_secrets(root: Path, text: str) -> None:
    (root / ".streamlit").mkdir(exist_ok=True)
    (root / ".streamlit" / "secrets.toml").write_text(text)


def test_flag_wins_over_env_and_secrets(clean, monkeypatch):
    monkeypatch.setenv("VENUEPULSE_DATABASE_URL", ENV)
    write_secrets(clean, f'database_url = "{SECRET}"\n')
    assert resolve_database_url(FLAG) == (FLAG, "flag")


def test_env_wins_over_secrets(clean, monkeypatch):
    monkeypatch.setenv("VENUEPULSE_DATABASE_URL", ENV)
    write_secrets(clean, f'database_url = "{SECRET}"\n')
    assert resolve_database_url() == (ENV, "env")


def test_secrets_top_level_key_is_used_without_flag_or_env(clean):
    write_secrets(clean, f'database_url = "{SECRET}"\n')
    assert resolve_database_url() == (SECRET, "secrets")


def test_secrets_connections_section_is_used(clean):
    write_secrets(clean, f'[connections.venuepulse]\nurl = "{SECRET}"\n')
    assert resolve_database_url() == (SECRET, "secrets")


def test_embedded_is_the_default_when_nothing_is_configured(clean):
    assert resolve_database_url() == ("", "embedded")


def test_sqlalchemy_style_urls_are_normalized_for_libpq_and_back():
    assert normalize_url("postgresql+psycopg://u:p@h:5/d") == "postgresql://u:p@h:5/d"
    assert normalize_url("postgres://u@h/d") == "postgresql://u@h/d"
    assert sqlalchemy_url("postgresql://u@/d?host=/tmp/s") == "postgresql+psycopg://u@/d?host=/tmp/s"


@pytest.mark.parametrize("bad", ["mysql://u:hunter2@h/d", "localhost:5432/db", "postgresql://u:hunter2@h:notaport/d"])
def test_malformed_url_is_one_sentence_without_the_password(clean, monkeypatch, bad):
    monkeypatch.setenv("VENUEPULSE_DATABASE_URL", bad)
    with pytest.raises(ConfigError) as info:
        resolve_database_url()
    msg = str(info.value)
    assert "\n" not in msg and msg.endswith(".")
    assert "VENUEPULSE_DATABASE_URL" in msg
    assert "hunter2" not in msg


def test_unreadable_secrets_file_is_a_config_error(clean):
    write_secrets(clean, "database_url = \n")
    with pytest.raises(ConfigError, match="secrets.toml"):
        resolve_database_url()


def test_data_dir_follows_env(clean, monkeypatch, tmp_path):
    monkeypatch.setenv("VENUEPULSE_DATA_DIR", str(tmp_path / "x"))
    assert data_dir() == (tmp_path / "x").resolve()


def test_data_dir_defaults_to_the_user_data_dir(clean):
    assert "venuepulse" in str(data_dir())


def test_redact_url_hides_passwords():
    assert redact_url("postgresql://u:s3cret@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert "s3cret" not in redact_url("postgresql://h/d?user=u&password=s3cret")
    assert redact_url("postgresql://u@h/d") == "postgresql://u@h/d"


def test_query_error_names_operation_and_contract_reason(empty_db_url):
    with psycopg.connect(empty_db_url) as c, pytest.raises(QueryError) as info:
        try:
            c.execute("DO $$ BEGIN RAISE EXCEPTION 'offer_full: offer has no claims left'; END $$")
        except psycopg.Error as exc:
            raise QueryError("offers.claim", exc) from exc
    err = info.value
    assert err.operation == "offers.claim"
    assert err.reason == "offer_full"
    assert str(err) == "offers.claim failed: offer_full: offer has no claims left"


def test_query_error_without_contract_word_has_no_reason(empty_db_url):
    with psycopg.connect(empty_db_url) as c, pytest.raises(QueryError) as info:
        try:
            c.execute("SELECT * FROM no_such_table")
        except psycopg.Error as exc:
            raise QueryError("venues.list", exc) from exc
    assert info.value.reason is None
    assert str(info.value).startswith("venues.list failed: relation")


def test_streamlit_settings_have_one_source_which_both_ways_of_starting_the_dashboard_read():
    import tomllib

    from venuepulse.supervisor import STREAMLIT_CONFIG, streamlit_command

    repo_config = Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml"
    # `streamlit run dashboard/app.py` reads the repository's file, a link to the one the package ships
    # (installed, the package's copy lives in site-packages: the same settings, another path)
    assert repo_config.is_symlink()
    assert repo_config.resolve() == (repo_config.parent.parent / "dashboard" / "streamlit.toml").resolve()
    with STREAMLIT_CONFIG.open("rb") as f:
        settings = tomllib.load(f)
    with repo_config.open("rb") as f:
        assert tomllib.load(f) == settings
    command = streamlit_command(8501)  # `venuepulse dashboard` and `venuepulse up`
    passed = dict(zip(command[5::2], command[6::2], strict=True))
    for section, options in settings.items():
        for option, value in options.items():
            assert passed[f"--{section}.{option}"] == (str(value).lower() if isinstance(value, bool) else str(value))
    assert passed["--theme.font"] == "sans serif"
