"""The remote mode against a real server: login and logout, where the token comes from and where it is
kept, and clear messages with the local mode's exit codes for a bad token, a server that is down, an
invalid field, a role that may not."""

from __future__ import annotations

import json
import logging
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from resguardo.catalog import queries
from resguardo.catalog.enums import Role
from tests.cli.catalog_modes import isolate, write_token_file
from tests.cli.conftest import Outcome, invoke
from tests.fixtures.api_server import RunningServer, running_server

PASSWORD = "ana's long password for tests"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningServer]:
    """Return a running server over a new catalog; logins are kept under ``tmp_path``."""
    isolate(monkeypatch, tmp_path)
    with running_server(tmp_path / "server") as running:
        yield running


def _password_file(tmp_path: Path, value: str = PASSWORD) -> str:
    path = tmp_path / "password"
    path.write_text(value + "\n")
    return str(path)


def _as(server: RunningServer, token_file: Path, *argv: str) -> Outcome:
    return invoke(["--server", server.url, "--token-file", str(token_file), *argv])


def _login_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "resguardo" / "login.json"


def test_login_keeps_a_token_readable_by_the_user_only_and_logout_revokes_it(
    server: RunningServer, tmp_path: Path
) -> None:
    server.user("ana", [Role.OPERATOR], password=PASSWORD)

    logged_in = invoke(
        ["login", "--server", server.url, "--username", "ana", "--password-file", _password_file(tmp_path)]
    )
    stored = _login_file(tmp_path)
    token = json.loads(stored.read_text())["token"]
    added = invoke(["--json", "client", "add", "web", "--address", "web.example"])  # no --server: the login's
    logged_out = invoke(["logout"])
    without_login = invoke(["--server", server.url, "client", "list"])
    with_old_token = _as(server, write_token_file(tmp_path / "old", token), "client", "list")

    assert logged_in.exit_code == 0, logged_in.stderr
    assert f"logged in to {server.url} as 'ana'" in logged_in.stdout
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert added.exit_code == 0, added.stderr
    with server.sessions() as session:
        [entry] = queries.list_audit(session, object_type="client").items
    assert entry.actor_name == "ana"
    assert logged_out.exit_code == 0 and "revoked" in logged_out.stdout
    assert not stored.exists()
    assert without_login.exit_code == 2 and "resguardo login --server" in without_login.stderr
    assert with_old_token.exit_code == 1 and "log in again" in with_old_token.stderr
    for outcome in (logged_in, added, logged_out, without_login, with_old_token):
        assert token not in outcome.stdout + outcome.stderr
        assert PASSWORD not in outcome.stdout + outcome.stderr


def test_the_login_file_is_mode_0600(server: RunningServer, tmp_path: Path) -> None:
    server.user("ana", [Role.AUDITOR], password=PASSWORD)

    outcome = invoke(
        ["login", "--server", server.url, "--username", "ana", "--password-file", _password_file(tmp_path)]
    )

    assert outcome.exit_code == 0, outcome.stderr
    assert stat.S_IMODE(_login_file(tmp_path).stat().st_mode) == 0o600


def test_login_with_a_wrong_password_says_so_and_keeps_nothing(server: RunningServer, tmp_path: Path) -> None:
    server.user("ana", [Role.OPERATOR], password=PASSWORD)

    outcome = invoke(
        [
            "login",
            "--server",
            server.url,
            "--username",
            "ana",
            "--password-file",
            _password_file(tmp_path, "nope"),
        ]
    )

    assert outcome.exit_code == 1
    assert "user name or the password is wrong" in outcome.stderr and "Traceback" not in outcome.stderr
    assert not _login_file(tmp_path).exists()


def test_a_bad_token_says_to_log_in_again(server: RunningServer, tmp_path: Path) -> None:
    token_file = write_token_file(tmp_path / "token", "rsg_not_a_token_of_this_server")

    text = _as(server, token_file, "client", "list")
    document = _as(server, token_file, "--json", "client", "list")

    assert text.exit_code == 1 and document.exit_code == 1
    assert f"the server at {server.url} did not accept the API token" in text.stderr
    assert f"resguardo login --server {server.url}" in text.stderr
    assert json.loads(document.stderr)["code"] == 1
    assert "rsg_not_a_token" not in text.stderr + document.stderr


def test_a_server_that_is_down_is_named_with_what_to_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate(monkeypatch, tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"http://127.0.0.1:{probe.getsockname()[1]}"
    token_file = write_token_file(tmp_path / "token", "rsg_whatever")

    outcome = invoke(["--server", address, "--token-file", str(token_file), "job", "list"])

    assert outcome.exit_code == 2
    assert f"cannot reach the server at {address}" in outcome.stderr
    assert "resguardo serve" in outcome.stderr and "Traceback" not in outcome.stderr


def test_tls_to_a_plain_http_server_is_a_clear_error_naming_the_address(
    server: RunningServer, tmp_path: Path
) -> None:
    address = server.url.replace("http://", "https://")
    token_file = write_token_file(tmp_path / "token", server.user("ana", [Role.OPERATOR]))

    outcome = invoke(["--server", address, "--token-file", str(token_file), "job", "list"])

    assert outcome.exit_code == 2
    assert f"the TLS connection to {address} failed" in outcome.stderr and "Traceback" not in outcome.stderr


def test_an_invalid_field_is_named(server: RunningServer, tmp_path: Path) -> None:
    token_file = write_token_file(tmp_path / "token", server.user("admin", [Role.ADMINISTRATOR]))
    short = _password_file(tmp_path, "short")

    transport = _as(server, token_file, "client", "add", "odd", "--address", "x", "--transport", "pigeon")
    password = _as(server, token_file, "user", "add", "bob", "--password-file", short)

    assert transport.exit_code == 2 and "transport:" in transport.stderr
    assert password.exit_code == 2 and "password:" in password.stderr and "at least 12" in password.stderr
    assert "short" not in password.stderr  # the value sent is never echoed


def test_a_role_that_may_not_change_something_is_refused_clearly(
    server: RunningServer, tmp_path: Path
) -> None:
    token_file = write_token_file(tmp_path / "token", server.user("audrey", [Role.AUDITOR]))

    listed = _as(server, token_file, "client", "list")
    refused = _as(server, token_file, "client", "add", "web", "--address", "web.example")

    assert listed.exit_code == 0, listed.stderr
    assert refused.exit_code == 1
    assert f"your role cannot do this on {server.url}" in refused.stderr
    assert "administrator, operator" in refused.stderr and "Traceback" not in refused.stderr


def test_the_token_never_appears_in_output_or_logs(
    server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    token = server.user("admin", [Role.ADMINISTRATOR])
    token_file = write_token_file(tmp_path / "token", token)
    monkeypatch.setenv("RESGUARDO_DEBUG", "1")
    caplog.set_level(logging.DEBUG)

    outcomes = [
        _as(server, token_file, "--verbose", "client", "add", "web", "--address", "web.example"),
        _as(server, token_file, "--verbose", "--json", "client", "list"),
        _as(server, token_file, "--verbose", "client", "show", "nope"),
        _as(server, token_file, "--verbose", "client", "add", "x", "--transport", "pigeon"),
    ]

    assert [outcome.exit_code for outcome in outcomes] == [0, 0, 1, 2]
    assert "HTTP Request" in caplog.text  # the requests were logged, the token not
    assert token not in caplog.text
    for outcome in outcomes:
        assert token not in outcome.stdout + outcome.stderr


def test_the_token_can_come_from_the_environment(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESGUARDO_SERVER", server.url)
    monkeypatch.setenv("RESGUARDO_TOKEN", server.user("admin", [Role.ADMINISTRATOR]))

    outcome = invoke(["--json", "user", "list"])

    assert outcome.exit_code == 0, outcome.stderr
    assert [user["username"] for user in outcome.json()] == ["admin"]


def test_a_server_without_a_token_or_a_malformed_address_says_what_to_do(server: RunningServer) -> None:
    no_token = invoke(["--server", server.url, "client", "list"])
    malformed = invoke(["--server", "ftp://example", "client", "list"])

    assert no_token.exit_code == 2 and f"no API token for {server.url}" in no_token.stderr
    assert malformed.exit_code == 2 and "https://HOST" in malformed.stderr


def test_listings_follow_every_page_of_the_api(
    server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resguardo.cli.catalog_client.remote import transport

    token_file = write_token_file(tmp_path / "token", server.user("admin", [Role.ADMINISTRATOR]))
    for number in range(5):
        assert _as(server, token_file, "client", "add", f"host{number}", "--address", "x").exit_code == 0
    monkeypatch.setattr(transport, "PAGE_SIZE", 2)

    listed = _as(server, token_file, "--json", "client", "list")

    assert [client["name"] for client in listed.json()] == [f"host{number}" for number in range(5)]
