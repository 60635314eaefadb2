"""``repository edit --verification-schedule/--scrub-period-days``, ``job edit --restore-test-...`` and
``verify server list|set|remove``, on the catalog (local) and on a real server (remote)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from resguardo.catalog import SecretKey, load_secret_key, queries
from resguardo.cli.catalog_client.local_inventory import find_repository
from tests.cli.catalog_modes import Mode, opened_mode

PASSPHRASE = "sealed repository passphrase 42"
SERVER_PASSWORD = "scratch-server-password-7731"


@pytest.fixture(params=["local", "remote"])
def mode(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mode]:
    """Return the local or the remote mode over a new catalog."""
    with opened_mode(request.param, tmp_path, monkeypatch) as opened:
        yield opened


def _repository_and_job(mode: Mode, tmp_path: Path) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    job = ("--client", "here", "--repository", "main", "--category", "documents", "--path", str(tmp_path))
    for argv in (
        ("client", "add", "here", "--transport", "local"),
        ("repository", "add", "main", "--url", str(tmp_path / "repo"), "--password-file", str(secret)),
        ("job", "add", "docs", *job),
    ):
        assert mode.cli(*argv).exit_code == 0


def _audit_actions(mode: Mode) -> list[str]:
    with mode.sessions() as session:
        return [entry.action for entry in queries.list_audit(session, limit=500).items]


def test_repository_edit_sets_the_scrub_schedule_and_period_in_both_modes(mode: Mode, tmp_path: Path) -> None:
    _repository_and_job(mode, tmp_path)

    edited = mode.cli(
        "repository", "edit", "main", "--verification-schedule", "daily at 02:30", "--scrub-period-days", "7"
    )
    plain = mode.cli("repository", "edit", "main", "--scrub-period-days", "14", json=False)
    bad = mode.cli("repository", "edit", "main", "--verification-schedule", "daily at 25:00")
    too_long = mode.cli("repository", "edit", "main", "--scrub-period-days", "0")

    assert edited.exit_code == 0, edited.stderr
    settings = edited.json()["verification"]
    assert settings["schedule"]["kind"] == "daily" and settings["schedule"]["at"] == "02:30"
    assert settings["scrub_period_days"] == 7 and settings["schedule_is_default"] is False
    assert plain.exit_code == 0 and "every pack read within 14 days" in plain.stderr + plain.stdout
    assert "daily at 02:30" in plain.stderr + plain.stdout
    assert bad.exit_code == 2 and "--verification-schedule" in bad.stderr and "Traceback" not in bad.stderr
    assert too_long.exit_code == 2 and "--scrub-period-days" in too_long.stderr
    with mode.sessions() as session:
        repository = find_repository(session, "main")
        assert repository.scrub_period_days == 14 and repository.verification_schedule["at"] == "02:30"
    assert _audit_actions(mode).count("repository.verification") == 2


def test_job_edit_sets_the_restore_test_schedule_and_sample_in_both_modes(mode: Mode, tmp_path: Path) -> None:
    _repository_and_job(mode, tmp_path)

    edited = mode.cli(
        "job",
        "edit",
        "docs",
        "--restore-test-schedule",
        "weekly on saturday at 05:00",
        "--restore-test-sample-files",
        "250",
    )
    bad = mode.cli("job", "edit", "docs", "--restore-test-schedule", "sometimes")
    zero = mode.cli("job", "edit", "docs", "--restore-test-sample-files", "0")
    missing = mode.cli("job", "edit", "nobody", "--restore-test-sample-files", "5")

    assert edited.exit_code == 0, edited.stderr
    settings = edited.json()["restore_test"]
    assert settings["schedule"]["kind"] == "weekly" and settings["sample_files"] == 250
    assert bad.exit_code == 2 and "--restore-test-schedule" in bad.stderr
    assert zero.exit_code == 2 and "--restore-test-sample-files" in zero.stderr
    assert missing.exit_code == 1 and "nobody" in missing.stderr
    with mode.sessions() as session:
        job = queries.find_job(session, "docs")
        assert job.restore_test_sample_files == 250 and job.restore_test_schedule["kind"] == "weekly"
    assert "job.restore_test" in _audit_actions(mode)


def test_verify_server_set_list_and_remove_never_print_the_password(mode: Mode, tmp_path: Path) -> None:
    password_file = tmp_path / "server-password"
    password_file.write_text(SERVER_PASSWORD + "\n")
    url = "postgresql://tester@127.0.0.1:5432/"

    stored = mode.cli("verify", "server", "set", "postgresql", url, "--password-file", str(password_file))
    no_password = mode.cli("verify", "server", "set", "mysql", "mysql://root@127.0.0.1:3306/")
    listed = mode.cli("verify", "server", "list")
    table = mode.cli("verify", "server", "list", json=False)
    in_url = mode.cli("verify", "server", "set", "mysql", "mysql://root:hunter2@db/")
    unknown = mode.cli("verify", "server", "set", "oracle", url)
    removed = mode.cli("verify", "server", "remove", "mysql")
    again = mode.cli("verify", "server", "remove", "mysql")

    assert stored.exit_code == 0, stored.stderr
    assert stored.json()["password_set"] is True and stored.json()["url"] == url
    assert no_password.exit_code == 0 and no_password.json()["password_set"] is False
    assert [item["kind"] for item in listed.json()] == ["mysql", "postgresql"]
    assert table.exit_code == 0 and "password set" in table.stdout and "no password" in table.stdout
    assert in_url.exit_code == 2 and "hunter2" not in in_url.stderr
    assert unknown.exit_code == 2 and "KIND" in unknown.stderr
    assert removed.exit_code == 0 and removed.json()["removed"]["kind"] == "mysql"
    assert again.exit_code == 1 and "no mysql server" in again.stderr
    assert [item["kind"] for item in mode.cli("verify", "server", "list").json()] == ["postgresql"]
    for outcome in (stored, listed, table, removed):
        assert SERVER_PASSWORD not in outcome.stdout + outcome.stderr
    actions = _audit_actions(mode)
    assert actions.count("verification_server.set") == 2 and "verification_server.remove" in actions
    with mode.sessions() as session:
        assert queries.restore_test_server(session, _key(mode), "postgresql") == (url, SERVER_PASSWORD)


def _key(mode: Mode) -> SecretKey:
    return load_secret_key(mode.data_dir)
