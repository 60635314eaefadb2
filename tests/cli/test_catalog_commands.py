"""``client``, ``repository``, ``user``, ``job`` and ``run show`` on the catalog, in-process, on SQLite and
PostgreSQL: add, list, show, edit, remove, secrets never printed, every change audited, clear errors."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from resguardo.catalog import SecretKey, queries, session_factory
from resguardo.catalog.enums import RunTrigger, SecretName
from tests.catalog.conftest import NOW, catalog_url, engine, postgres_template, secret_key, sqlite_template
from tests.cli.conftest import Outcome, invoke

__all__ = ["catalog_url", "engine", "postgres_template", "secret_key", "sqlite_template"]

PASSPHRASE = "sealed repository passphrase 42"
PASSWORD = "a long user password for tests"
Cli = Callable[..., Outcome]
DAILY = '{"kind": "daily", "at": "01:00"}'


@pytest.fixture
def cli(catalog_url: str, secret_key: SecretKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Return a function running ``resguardo --json ARGS`` on the test's catalog."""
    monkeypatch.setenv("RESGUARDO_SECRET_KEY", secret_key.encoded())
    monkeypatch.setenv("RESGUARDO_DATABASE_URL", catalog_url)
    monkeypatch.setenv("RESGUARDO_DATA_DIR", str(tmp_path / "data"))

    def run(*argv: str, json: bool = True) -> Outcome:
        return invoke(["--json", *argv] if json else list(argv))

    return run


def _secret_file(tmp_path: Path, name: str, value: str) -> str:
    path = tmp_path / name
    path.write_text(value + "\n")
    return str(path)


def _assert_ok(outcome: Outcome) -> None:
    assert outcome.exit_code == 0, outcome.stderr


def test_client_add_list_show_edit_remove_round_trip(cli: Cli, engine: Engine) -> None:
    added = cli("client", "add", "web", "--address", "web.example", "--ssh-user", "backup")
    listed = cli("client", "list")
    edited = cli("client", "edit", "web", "--port", "2222", "--name", "web1")
    shown = cli("client", "show", "web1")
    removed = cli("client", "remove", "web1")
    gone = cli("client", "show", "web1")

    for outcome in (added, listed, edited, shown, removed):
        _assert_ok(outcome)
    assert added.json()["address"] == "web.example"
    assert [client["name"] for client in listed.json()] == ["web"]
    assert shown.json()["port"] == 2222 and shown.json()["ssh_user"] == "backup"
    assert gone.exit_code == 1 and "web1" in gone.stderr and "hint" in gone.stderr
    with session_factory(engine)() as session:
        entries = queries.list_audit(session, object_type="client").items
    assert [entry.action for entry in reversed(entries)] == [
        "client.create",
        "client.update",
        "client.delete",
    ]
    assert {entry.actor_name for entry in entries} == {getpass.getuser()}
    assert all(entry.actor_id is None for entry in entries)


def test_client_add_of_a_taken_name_is_a_conflict_and_bad_input_a_usage_error(cli: Cli) -> None:
    _assert_ok(cli("client", "add", "web", "--address", "web.example"))

    again = cli("client", "add", "web", "--address", "other.example")
    no_address = cli("client", "add", "nowhere")
    bad_transport = cli("client", "add", "odd", "--address", "x", "--transport", "pigeon")

    assert again.exit_code == 1 and "web" in again.stderr
    assert no_address.exit_code == 2 and "address" in no_address.stderr
    assert bad_transport.exit_code == 2 and "pigeon" in bad_transport.stderr
    for outcome in (again, no_address, bad_transport):
        assert "Traceback" not in outcome.stdout + outcome.stderr


def test_repository_passphrase_is_sealed_and_never_printed(
    cli: Cli, engine: Engine, secret_key: SecretKey, tmp_path: Path
) -> None:
    secret = _secret_file(tmp_path, "passphrase", PASSPHRASE)
    new_secret = _secret_file(tmp_path, "new-passphrase", PASSPHRASE + " changed")
    location = str(tmp_path / "repo")

    added = cli("repository", "add", "main", "--url", location, "--password-file", secret)
    listed = cli("repository", "list")
    shown_text = cli("repository", "show", "main", json=False)
    edited = cli("repository", "edit", "main", "--notes", "offsite", "--password-file", new_secret)
    shown = cli("repository", "show", "main")

    for outcome in (added, listed, shown_text, edited, shown):
        _assert_ok(outcome)
        assert PASSPHRASE not in outcome.stdout + outcome.stderr
    assert "passphrase: set" in shown_text.stdout
    assert shown.json()["passphrase"] == "set" and shown.json()["notes"] == "offsite"
    with session_factory(engine)() as session:
        repository_id = shown.json()["id"]
        revealed = queries.reveal_secret(session, secret_key, repository_id, SecretName.PASSPHRASE)
        entries = queries.list_audit(session, object_type="repository").items
    assert revealed == PASSPHRASE + " changed"
    assert [entry.action for entry in reversed(entries)] == ["repository.create", "repository.update"]
    assert all(PASSPHRASE not in str(entry.before) + str(entry.after) for entry in entries)

    removed = cli("repository", "remove", "main")
    _assert_ok(removed)
    assert cli("repository", "list").json() == []


def test_repository_add_without_a_passphrase_and_no_terminal_says_what_to_do(
    cli: Cli, tmp_path: Path
) -> None:
    outcome = cli("repository", "add", "main", "--url", str(tmp_path / "repo"))

    assert outcome.exit_code == 2
    assert "--password-file" in outcome.stderr


def test_user_add_show_edit_remove_never_prints_the_password(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    secret = _secret_file(tmp_path, "password", PASSWORD)

    added = cli("user", "add", "ana", "--role", "operator", "--role", "auditor", "--password-file", secret)
    edited = cli("user", "edit", "ana", "--role", "administrator", "--email", "ana@example.org")
    shown = cli("user", "show", "ana")
    listed = cli("user", "list", json=False)
    removed = cli("user", "remove", "ana")
    gone = cli("user", "show", "ana")

    for outcome in (added, edited, shown, listed, removed):
        _assert_ok(outcome)
        assert PASSWORD not in outcome.stdout + outcome.stderr
    assert added.json()["roles"] == ["auditor", "operator"]
    assert shown.json()["roles"] == ["administrator"] and shown.json()["password"] == "set"
    assert shown.json()["email"] == "ana@example.org"
    assert "ana" in listed.stdout
    assert gone.exit_code == 1
    with session_factory(engine)() as session:
        entries = queries.list_audit(session, object_type="user").items
    assert [entry.action for entry in reversed(entries)] == ["user.create", "user.update", "user.delete"]


def test_user_add_with_an_unknown_role_or_a_short_password_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    good = _secret_file(tmp_path, "good", PASSWORD)
    short = _secret_file(tmp_path, "short", "short")

    unknown_role = cli("user", "add", "ana", "--role", "wizard", "--password-file", good)
    too_short = cli("user", "add", "ana", "--password-file", short)

    assert unknown_role.exit_code == 2 and "wizard" in unknown_role.stderr
    assert too_short.exit_code == 2 and "characters" in too_short.stderr
    assert "short" not in too_short.stderr.replace("too short", "")


def _job_setup(cli: Cli, tmp_path: Path) -> None:
    secret = _secret_file(tmp_path, "passphrase", PASSPHRASE)
    _assert_ok(cli("client", "add", "here", "--transport", "local"))
    _assert_ok(cli("repository", "add", "main", "--url", str(tmp_path / "repo"), "--password-file", secret))


def test_job_add_show_edit_pause_resume_remove(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    _job_setup(cli, tmp_path)
    add_options = ["--client", "here", "--repository", "main", "--category", "databases"]

    added = cli("job", "add", "docs", *add_options, "--path", str(tmp_path), "--schedule", DAILY)
    paused = cli("job", "pause", "docs")
    edited = cli(
        "job", "edit", "docs", "--description", "the documents", "--exclude", "*.tmp", "--path", "/srv"
    )
    shown = cli("job", "show", "docs")
    shown_text = cli("job", "show", "docs", json=False)
    resumed = cli("job", "resume", "docs")
    removed = cli("job", "remove", "docs")
    listed = cli("job", "list")

    for outcome in (added, paused, edited, shown, shown_text, resumed, removed, listed):
        _assert_ok(outcome)
    assert added.json()["schedule"] == {"kind": "daily", "at": "01:00", "timezone": "UTC", "window": None}
    assert paused.json()["paused"] is True and resumed.json()["paused"] is False
    job = shown.json()
    assert job["description"] == "the documents" and job["paused"] is True
    assert job["source"] == {"kind": "paths", "paths": ["/srv"], "excludes": ["*.tmp"]}
    assert "client: here" in shown_text.stdout
    assert listed.json() == []
    with session_factory(engine)() as session:
        entries = queries.list_audit(session, object_type="job").items
    assert [entry.action for entry in reversed(entries)] == [
        "job.create",
        "job.pause",
        "job.update",
        "job.resume",
        "job.delete",
    ]


def test_job_add_with_bad_input_says_what_is_wrong(cli: Cli, tmp_path: Path) -> None:
    _job_setup(cli, tmp_path)
    options = ["--client", "here", "--repository", "main", "--category", "databases", "--path", "/srv"]

    unreadable = cli("job", "add", "docs", *options, "--schedule", "now and then")
    bad_schedule = cli("job", "add", "docs", *options, "--schedule", '{"kind": "sometimes"}')
    no_client = cli("job", "add", "docs", "--client", "nope", *options[2:])
    missing = cli("job", "add", "docs", "--path", "/srv")
    unknown = cli("job", "pause", "nope")

    assert unreadable.exit_code == 2 and "cannot read 'now and then'" in unreadable.stderr
    assert bad_schedule.exit_code == 2 and "schedule field 'kind'" in bad_schedule.stderr
    assert no_client.exit_code == 1 and "nope" in no_client.stderr
    assert missing.exit_code == 2 and "--client" in missing.stderr
    assert unknown.exit_code == 1 and "hint" in unknown.stderr
    for outcome in (unreadable, bad_schedule, no_client, missing, unknown):
        assert "Traceback" not in outcome.stdout + outcome.stderr


def test_run_show_prints_the_run_with_its_log(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    _job_setup(cli, tmp_path)
    options = ["--client", "here", "--repository", "main", "--category", "databases", "--path", "/srv"]
    job_id = cli("job", "add", "docs", *options).json()["id"]
    with session_factory(engine)() as session:
        run = queries.enqueue_run(session, job_id, trigger=RunTrigger.MANUAL, now=NOW)
        run.log = "first line\nsecond line"
        session.commit()
        run_id = run.id

    shown = cli("run", "show", str(run_id))
    shown_text = cli("run", "show", str(run_id), json=False)
    missing = cli("run", "show", "999999")

    _assert_ok(shown)
    assert shown.json()["id"] == run_id and shown.json()["log"] == "first line\nsecond line"
    assert "  second line" in shown_text.stdout
    assert missing.exit_code == 1
