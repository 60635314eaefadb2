"""``backup --ssh``: a client's paths over a real sshd on 127.0.0.1, restored and compared; the JSON summary's
network figures; partial backups; and the errors a person must understand, never showing the key."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from resguardo.core.errors import EXIT_FAILURE, EXIT_PARTIAL, EXIT_USAGE
from tests.cli.conftest import Repo, write
from tests.cli.test_end_to_end import _unreadable_as_root
from tests.fixtures.sshd import SshServer, free_port, generate_key, public_key, start_server

pytestmark = pytest.mark.slow


def ssh_options(server: SshServer, known_hosts: Path | None = None) -> list[str]:
    return [
        "--ssh",
        f"{server.user}@127.0.0.1:{server.port}",
        "--ssh-key-file",
        str(server.client_key),
        "--ssh-known-hosts",
        str(known_hosts or server.known_hosts),
    ]


@pytest.fixture
def client_tree(tmp_path: Path) -> Path:
    root = tmp_path / "client"
    write(root / "site" / "index.html", b"<h1>hello</h1>\n")
    write(root / "site" / "logo.png", os.urandom(150_000))
    write(root / "conf" / "app.ini", b"[app]\nport = 8080\n").chmod(0o640)
    (root / "empty").mkdir()
    (root / "current").symlink_to("site")
    return root


def test_backup_over_ssh_restores_the_same_tree_and_an_unchanged_rerun_reads_nothing(
    repo: Repo, sshd_server: SshServer, client_tree: Path, tmp_path: Path
) -> None:
    first = repo("--json", "backup", *ssh_options(sshd_server), "--host", "web01", str(client_tree))
    assert first.exit_code == 0, first.stderr
    summary = first.json_lines()[-1]
    assert summary["files_new"] == 3 and summary["hostname"] == "web01"
    assert summary["content_bytes"] == 150_000 + 15 + 18
    assert summary["network_bytes_received"] >= summary["content_bytes"]

    again = repo("--json", "backup", *ssh_options(sshd_server), "--host", "web01", str(client_tree))
    assert again.exit_code == 0, again.stderr
    rerun = again.json_lines()[-1]
    assert rerun["content_bytes"] == 0 and rerun["files_read"] == 0 and rerun["files_unchanged"] == 3
    assert rerun["parent"] == summary["snapshot_id"]
    assert rerun["listing_bytes"] < 2000

    listed = repo("--json", "snapshots", "--host", "web01")
    assert listed.exit_code == 0 and len(listed.json()) == 2
    target = tmp_path / "restored"
    restored = repo("restore", rerun["snapshot_id"], "--target", str(target))
    assert restored.exit_code == 0, restored.stderr
    copy_root = target / str(client_tree).lstrip("/")
    for original in [client_tree, *client_tree.rglob("*")]:
        copy = copy_root / original.relative_to(client_tree)
        before, after = original.lstat(), copy.lstat()
        assert stat.S_IFMT(before.st_mode) == stat.S_IFMT(after.st_mode), original
        if original.is_symlink():
            assert os.readlink(copy) == os.readlink(original)
            continue
        assert stat.S_IMODE(before.st_mode) == stat.S_IMODE(after.st_mode), original
        assert before.st_mtime_ns == after.st_mtime_ns, original
        if original.is_file():
            assert copy.read_bytes() == original.read_bytes()


def test_the_text_summary_shows_the_bytes_moved_over_the_network(
    repo: Repo, sshd_server: SshServer, client_tree: Path
) -> None:
    outcome = repo("backup", *ssh_options(sshd_server), str(client_tree))
    assert outcome.exit_code == 0, outcome.stderr
    assert "Network:" in outcome.stdout + outcome.stderr
    assert "contents of 3 files" in outcome.stdout + outcome.stderr


def test_a_changed_file_and_a_new_one_are_the_only_contents_read(
    repo: Repo, sshd_server: SshServer, client_tree: Path
) -> None:
    assert repo("backup", *ssh_options(sshd_server), str(client_tree)).exit_code == 0
    write(client_tree / "site" / "index.html", b"<h1>changed</h1>\n")
    write(client_tree / "site" / "new.css", b"body {}\n")
    outcome = repo("--json", "backup", *ssh_options(sshd_server), str(client_tree))
    summary = outcome.json_lines()[-1]
    assert (summary["files_changed"], summary["files_new"], summary["files_unchanged"]) == (1, 1, 2)
    assert summary["content_bytes"] == len(b"<h1>changed</h1>\n") + len(b"body {}\n")


def test_an_unreadable_file_makes_a_partial_backup_with_exit_3(
    repo: Repo, sshd_server: SshServer, client_tree: Path
) -> None:
    if os.geteuid() != 0:
        locked_out = write(client_tree / "secret", b"no one may read this")
        locked_out.chmod(0)
        unreadable = str(locked_out)
    else:
        found = _unreadable_as_root()
        if found is None:
            pytest.skip("running as root and no write-only sysfs file to stand in for an unreadable file")
        unreadable = found
    outcome = repo("--json", "backup", *ssh_options(sshd_server), str(client_tree), unreadable)
    assert outcome.exit_code == EXIT_PARTIAL, outcome.stderr
    summary = outcome.json_lines()[-1]
    assert summary["partial"] is True
    assert summary["unreadable"] == [{"path": unreadable, "message": "permission denied"}]
    assert "Traceback" not in outcome.stderr


def test_a_wrong_host_key_fails_clearly_and_never_shows_the_key(
    repo: Repo, sshd_server: SshServer, client_tree: Path, tmp_path: Path
) -> None:
    impostor = generate_key(tmp_path / "impostor")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd_server.port} {public_key(impostor)}\n")
    outcome = repo("backup", *ssh_options(sshd_server, known_hosts), str(client_tree))
    assert outcome.exit_code == EXIT_FAILURE
    assert "host key of [127.0.0.1]" in outcome.stderr and "has CHANGED" in outcome.stderr
    assert "Nothing was sent" in outcome.stderr
    private_key = sshd_server.client_key.read_text()
    body = "".join(private_key.splitlines()[1:-1])
    assert body[:40] not in outcome.stderr + outcome.stdout
    assert "Traceback" not in outcome.stderr


def test_an_unknown_host_key_says_how_to_add_it(
    repo: Repo, sshd_server: SshServer, client_tree: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    outcome = repo("backup", *ssh_options(sshd_server, empty), str(client_tree))
    assert outcome.exit_code == EXIT_FAILURE
    assert "is not known" in outcome.stderr and "ssh-keyscan -p" in outcome.stderr


def test_an_unreachable_host_fails_clearly(repo: Repo, client_tree: Path, tmp_path: Path) -> None:
    port = free_port()
    outcome = repo(
        "backup",
        "--ssh",
        f"backup@127.0.0.1:{port}",
        "--ssh-key-file",
        str(tmp_path / "none"),
        str(client_tree),
    )
    assert outcome.exit_code == EXIT_FAILURE
    assert f"cannot reach the client 127.0.0.1:{port}: connection refused" in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_ssh_options_that_make_no_sense_are_usage_errors(repo: Repo, client_tree: Path) -> None:
    without_ssh = repo("backup", "--ssh-key-file", "key", str(client_tree))
    assert without_ssh.exit_code == EXIT_USAGE and "only used with --ssh" in without_ssh.stderr
    with_stdin = repo("backup", "--ssh", "web01", "--stdin")
    assert with_stdin.exit_code == EXIT_USAGE
    relative = repo("backup", "--ssh", "web01", "etc")
    assert relative.exit_code == EXIT_USAGE and "not absolute" in relative.stderr


@pytest.fixture(scope="module")
def server_of_one_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """An sshd that opens one session per connection at most."""
    server = start_server(tmp_path_factory.mktemp("sshd-one"), ["MaxSessions 1"])
    try:
        yield server
    finally:
        server.stop()


def test_more_parallel_reads_than_the_servers_max_sessions_warn_naming_it_and_back_up_everything(
    repo: Repo, server_of_one_session: SshServer, client_tree: Path, tmp_path: Path
) -> None:
    write(client_tree / "large.bin", os.urandom(2 * 1024 * 1024))
    outcome = repo("backup", *ssh_options(server_of_one_session), "--ssh-parallel", "4", str(client_tree))
    assert outcome.exit_code == 0, outcome.stderr
    assert "opened 1 of the 2 sessions asked" in outcome.stderr and "MaxSessions" in outcome.stderr
    assert "--ssh-parallel 1" in outcome.stderr
    restored = repo("restore", "latest", "--target", str(tmp_path / "restored"))
    assert restored.exit_code == 0, restored.stderr
    for name in ("large.bin", "site/logo.png", "conf/app.ini"):
        copy = tmp_path / "restored" / str(client_tree).lstrip("/") / name
        assert copy.read_bytes() == (client_tree / name).read_bytes()
