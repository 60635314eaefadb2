"""File trees of a client over SSH, against a real sshd on 127.0.0.1: listing, reading only what changed,
restoring what was read, and the failures a person must understand (host key, unreachable, vanished)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from resguardo.backends._sftp_connect import Credentials
from resguardo.core.errors import ConfigurationError, SourceError
from resguardo.engine.remotetree import RemoteBackupOptions, RemoteListing, backup_remote_tree
from resguardo.engine.repository import Repository
from resguardo.engine.restorer import restore
from resguardo.engine.snapshot import find_snapshot
from resguardo.engine.tree import FILE
from resguardo.sources.sshlisting import ListingParser, walk_over_sftp
from resguardo.sources.sshtree import SshTreeSource, parse_target
from tests.fixtures.sshd import SshServer, free_port, generate_key, public_key

pytestmark = pytest.mark.slow

OPTIONS = RemoteBackupOptions(hostname="client-one", username="backup")


def make_tree(root: Path) -> Path:
    """Create a small tree: text, a multi-chunk file, an empty file, nesting, a symlink, odd modes."""
    (root / "etc" / "app").mkdir(parents=True)
    (root / "etc" / "app" / "app.conf").write_text("listen = 8080\n")
    (root / "etc" / "app" / "secret.key").write_bytes(b"k" * 100)
    (root / "etc" / "app" / "secret.key").chmod(0o600)
    (root / "data").mkdir()
    (root / "data" / "big.bin").write_bytes(os.urandom(300_000))
    (root / "data" / "empty").write_bytes(b"")
    (root / "data" / "run.sh").write_text("#!/bin/sh\n")
    (root / "data" / "run.sh").chmod(0o755)
    (root / "link").symlink_to("etc/app/app.conf")
    return root


def source_for(server: SshServer, known_hosts: Path | None = None) -> SshTreeSource:
    location = parse_target(f"{server.user}@127.0.0.1:{server.port}", "nobody")
    return SshTreeSource(
        location, Credentials(str(server.client_key), str(known_hosts or server.known_hosts))
    )


@pytest.fixture
def client(sshd_server: SshServer) -> Iterator[SshTreeSource]:
    source = source_for(sshd_server)
    source.connect()
    try:
        yield source
    finally:
        source.close()


def backup_with(
    server: SshServer, repository: Repository, tree: Path
) -> tuple[dict[str, int | float], list[str]]:
    """Back ``tree`` up over a new connection; return the summary and the warnings reported."""
    warnings: list[str] = []
    source = source_for(server)
    source.connect()
    try:
        result = backup_remote_tree(
            repository,
            source,
            [str(tree)],
            OPTIONS,
            lambda event: (
                warnings.append(f"{getattr(event, 'path', '')}: {event.message}")
                if hasattr(event, "message")
                else None
            ),
        )
    finally:
        source.close()
    return result.snapshot.summary, warnings


def test_a_first_backup_restores_contents_modes_symlinks_and_mtimes(
    sshd_server: SshServer, repository: Repository, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "client")
    summary, warnings = backup_with(sshd_server, repository, tree)
    assert warnings == []
    assert summary["files_new"] == 5 and summary["files_unchanged"] == 0
    assert summary["content_bytes"] == 300_000 + 14 + 100 + 10
    snapshot = find_snapshot(repository, "latest", hostname="client-one")
    assert (
        snapshot.paths == [str(tree)] and snapshot.hostname == "client-one" and snapshot.username == "backup"
    )
    target = tmp_path / "restored"
    restore(repository, snapshot, str(target))
    restored = target / str(tree).lstrip("/")
    for original in [tree, *tree.rglob("*")]:
        copy = restored / original.relative_to(tree)
        before, after = original.lstat(), copy.lstat()
        assert stat.S_IFMT(before.st_mode) == stat.S_IFMT(after.st_mode), original
        if original.is_symlink():
            assert os.readlink(copy) == os.readlink(original)
            continue
        assert stat.S_IMODE(before.st_mode) == stat.S_IMODE(after.st_mode), original
        assert before.st_mtime_ns == after.st_mtime_ns, original
        if original.is_file():
            assert copy.read_bytes() == original.read_bytes()


def test_an_unchanged_rerun_moves_no_file_content(
    sshd_server: SshServer, repository: Repository, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "client")
    backup_with(sshd_server, repository, tree)
    summary, _warnings = backup_with(sshd_server, repository, tree)
    assert summary["content_bytes"] == 0 and summary["files_read"] == 0
    assert summary["files_unchanged"] == 5 and summary["files_new"] == summary["files_changed"] == 0
    assert 0 < summary["listing_bytes"] < 2000
    assert summary["network_bytes_received"] < 20_000


def test_a_changed_and_an_added_file_are_the_only_ones_read(
    sshd_server: SshServer, repository: Repository, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "client")
    backup_with(sshd_server, repository, tree)
    (tree / "etc" / "app" / "app.conf").write_text("listen = 9090\n")
    (tree / "data" / "new.txt").write_text("added\n")
    summary, _warnings = backup_with(sshd_server, repository, tree)
    assert summary["files_read"] == 2
    assert summary["content_bytes"] == len("listen = 9090\n") + len("added\n")
    assert summary["files_changed"] == 1 and summary["files_new"] == 1 and summary["files_unchanged"] == 4


def test_a_file_that_vanishes_before_it_is_read_makes_a_partial_backup(
    sshd_server: SshServer, repository: Repository, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "client")
    doomed = tree / "data" / "run.sh"

    class VanishingSource(SshTreeSource):
        def list_tree(self, paths: object, one_file_system: bool) -> RemoteListing:
            listing = super().list_tree(paths, one_file_system)  # type: ignore[arg-type]
            doomed.unlink()
            return listing

    source = VanishingSource(source_for(sshd_server).location, source_for(sshd_server).credentials)
    warnings: list[str] = []
    try:
        result = backup_remote_tree(
            repository, source, [str(tree)], OPTIONS, lambda event: warnings.append(str(event))
        )
    finally:
        source.close()
    assert result.partial and result.unreadable == [(str(doomed), "file vanished before it could be read")]
    assert any("file vanished before it could be read" in warning for warning in warnings)
    assert result.snapshot.unreadable == [str(doomed)]


def test_the_sftp_walk_lists_what_find_lists(client: SshTreeSource, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "client")
    paths = [str(tree).encode()]
    by_find = {entry.path: entry for entry in client.list_tree(paths, False).entries}
    transport = client._transport()
    sftp = paramiko.SFTPClient.from_transport(transport)
    assert sftp is not None
    by_walk = {entry.path: entry for entry in walk_over_sftp(sftp, paths).entries}
    assert set(by_walk) == set(by_find)
    for path, entry in by_find.items():
        walked = by_walk[path]
        assert (walked.type, walked.mode, walked.uid, walked.size, walked.target) == (
            entry.type,
            entry.mode,
            entry.uid,
            entry.size,
            entry.target,
        )
        assert walked.mtime_ns == entry.mtime_ns // 1_000_000_000 * 1_000_000_000
    assert by_find[str(tree / "data" / "big.bin").encode()].type == FILE


def test_a_missing_path_is_a_source_error_naming_it(
    sshd_server: SshServer, repository: Repository, client: SshTreeSource, tmp_path: Path
) -> None:
    with pytest.raises(SourceError, match=r"cannot back up .*/nowhere on the client: no such file"):
        backup_remote_tree(repository, client, [str(tmp_path / "nowhere")], OPTIONS)


def test_a_relative_path_is_refused(repository: Repository, client: SshTreeSource) -> None:
    with pytest.raises(ConfigurationError, match="not absolute"):
        backup_remote_tree(repository, client, ["etc"], OPTIONS)


def test_a_changed_host_key_is_refused_before_logging_in(sshd_server: SshServer, tmp_path: Path) -> None:
    other = generate_key(tmp_path / "other_host_key")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd_server.port} {public_key(other)}\n")
    source = source_for(sshd_server, known_hosts)
    with pytest.raises(SourceError, match="has CHANGED") as raised:
        source.connect()
    assert "Nothing was sent" in raised.value.message
    assert source.counting is not None and source.counting.sent < 3000


def test_an_unreachable_host_says_so(tmp_path: Path) -> None:
    location = parse_target(f"someone@127.0.0.1:{free_port()}", "nobody")
    source = SshTreeSource(location, Credentials(str(tmp_path / "key"), str(tmp_path / "known_hosts")))
    with pytest.raises(SourceError, match=r"cannot reach the client 127\.0\.0\.1:\d+: connection refused"):
        source.connect()


def test_find_complaints_become_missing_unreadable_or_vanished_paths() -> None:
    parser = ListingParser(compressed=False)
    parser.feed(b"y\x00x\x001\x00")
    listing = parser.finish(
        b"find: '/srv/gone': No such file or directory\n"
        b"find: '/srv/www/private': Permission denied\n"
        b"find: '/srv/www/tmp/x': No such file or directory\n",
        [b"/srv/gone", b"/srv/www"],
    )
    assert listing.missing == [(b"/srv/gone", "no such file or directory")]
    assert listing.unreadable == [(b"/srv/www/private", "permission denied")]
    assert listing.warnings == [(b"/srv/www/tmp/x", "file vanished before it could be read")]


def test_a_listing_cut_short_is_an_error() -> None:
    parser = ListingParser(compressed=False)
    parser.feed(b"y\0f\0644\0")
    with pytest.raises(SourceError, match="cut short"):
        parser.finish(b"", [b"/srv"])


def test_addresses_take_a_user_a_port_and_ipv6() -> None:
    location = parse_target("backup@web01:2222", "me")
    assert (location.user, location.host, location.port) == ("backup", "web01", 2222)
    location = parse_target("[::1]", "me")
    assert (location.user, location.host, location.port) == ("me", "::1", 22)
    with pytest.raises(ConfigurationError, match="not an SSH address"):
        parse_target("web01/srv", "me")
