"""``resguardo client add|edit`` with SSH credentials and ``resguardo client test``, in both modes,
against the real sshd."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from resguardo.catalog import queries
from tests.cli.catalog_modes import Mode, opened_mode
from tests.fixtures.sshd import SshServer, public_key


@pytest.fixture(params=["local", "remote"])
def mode(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mode]:
    """Return the local or the remote mode over a new catalog."""
    with opened_mode(request.param, tmp_path, monkeypatch) as opened:
        yield opened


def _add_ssh_client(mode: Mode, server: SshServer) -> None:
    added = mode.cli(
        "client",
        "add",
        "web",
        "--address",
        "127.0.0.1",
        "--port",
        str(server.port),
        "--ssh-user",
        server.user,
        "--ssh-key-file",
        str(server.client_key),
        "--ssh-host-key",
        public_key(server.host_key),
    )
    assert added.exit_code == 0, added.stderr
    assert added.json()["secrets_set"] == ["ssh_private_key"]


def test_a_client_with_a_sealed_key_tests_ok_and_the_report_is_stored(
    mode: Mode, sshd_server: SshServer, tmp_path: Path
) -> None:
    _add_ssh_client(mode, sshd_server)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f").write_bytes(b"y" * 500)
    tested = mode.cli("client", "test", "web", "--path", str(tmp_path / "data"))
    assert tested.exit_code == 0, tested.stdout + tested.stderr
    report = tested.json()
    assert report["summary"]["result"] == "ok" and report["summary"]["estimated_bytes"] == 500
    key_text = sshd_server.client_key.read_text()
    assert key_text not in tested.stdout + tested.stderr
    with mode.sessions() as session:
        [client] = queries.list_clients(session).items
        stored = queries.last_client_test(session, client.id)
        assert stored is not None and stored.report["summary"]["estimated_bytes"] == 500
        entries = str([(entry.before, entry.after) for entry in queries.list_audit(session, limit=100).items])
    assert key_text not in entries and "ssh_private_key" in entries


def test_a_failed_item_exits_1_and_the_table_says_what_to_fix(
    mode: Mode, sshd_server: SshServer, tmp_path: Path
) -> None:
    _add_ssh_client(mode, sshd_server)
    tested = mode.cli("client", "test", "web", "--path", str(tmp_path / "missing"), json=False)
    assert tested.exit_code == 1, tested.stderr
    assert re.search(r"FAIL +path exists", tested.stdout) and "does not exist" in tested.stdout
    assert "fix path exists" in tested.stdout
    assert "Traceback" not in tested.stdout + tested.stderr


def test_an_unreadable_key_file_is_a_usage_error(mode: Mode, tmp_path: Path) -> None:
    outcome = mode.cli("client", "add", "x", "--address", "h", "--ssh-key-file", str(tmp_path / "none"))
    assert outcome.exit_code != 0 and "SSH key file" in outcome.stderr and "Traceback" not in outcome.stderr
    assert mode.cli("client", "test", "nope").exit_code != 0
