"""``repository add|edit --max-concurrent-runs N``: the repository's limit of runs at once, 1 to 64."""

from __future__ import annotations

from pathlib import Path

import pytest

from resguardo.catalog import SecretKey
from tests.catalog.conftest import catalog_url, postgres_template, secret_key, sqlite_template
from tests.cli.conftest import Outcome, invoke

__all__ = ["catalog_url", "postgres_template", "secret_key", "sqlite_template"]


@pytest.fixture
def password_file(
    catalog_url: str, secret_key: SecretKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Point the commands at the test's catalog and key; return a passphrase file."""
    monkeypatch.setenv("RESGUARDO_SECRET_KEY", secret_key.encoded())
    monkeypatch.setenv("RESGUARDO_DATABASE_URL", catalog_url)
    monkeypatch.setenv("RESGUARDO_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "passphrase"
    path.write_text("a repository passphrase\n")
    return str(path)


def _json(*argv: str) -> Outcome:
    outcome = invoke(["--json", *argv])
    assert outcome.exit_code == 0, outcome.stderr
    return outcome


def test_repository_limit_is_two_by_default_and_set_by_add_and_edit(
    password_file: str, tmp_path: Path
) -> None:
    default = _json(
        "repository", "add", "plain", "--url", str(tmp_path / "a"), "--password-file", password_file
    )
    narrow = _json(
        "repository",
        "add",
        "narrow",
        "--url",
        str(tmp_path / "b"),
        "--password-file",
        password_file,
        "--max-concurrent-runs",
        "1",
    )
    _json("repository", "edit", "plain", "--max-concurrent-runs", "5")
    shown = invoke(["repository", "show", "plain"])

    assert default.json()["max_concurrent_runs"] == 2
    assert narrow.json()["max_concurrent_runs"] == 1
    assert _json("repository", "show", "plain").json()["max_concurrent_runs"] == 5
    assert "max_concurrent_runs: 5" in shown.stdout


@pytest.mark.parametrize("wrong", ["0", "65", "many"])
def test_a_limit_out_of_range_is_a_usage_error_naming_the_option(
    password_file: str, tmp_path: Path, wrong: str
) -> None:
    _json("repository", "add", "plain", "--url", str(tmp_path / "a"), "--password-file", password_file)

    edited = invoke(["repository", "edit", "plain", "--max-concurrent-runs", wrong])

    assert edited.exit_code == 2
    assert "--max-concurrent-runs" in edited.stderr and "Traceback" not in edited.stderr
    assert _json("repository", "show", "plain").json()["max_concurrent_runs"] == 2
