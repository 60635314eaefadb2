"""Small files of a client read through tar streams, against a real sshd on 127.0.0.1: odd names, files
deleted, grown or shrunk between the listing and the reading, a client without tar, and an SSH server
that grants fewer sessions than asked (MaxSessions)."""

from __future__ import annotations

import io
import logging
import os
import stat
import tarfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import paramiko
import pytest

from resguardo.backends._sftp_connect import Credentials
from resguardo.core.errors import SourceError
from resguardo.engine.archiver import BackupResult
from resguardo.engine.remotetree import (
    WHOLE_READ_BYTES,
    RemoteEntry,
    RemoteListing,
    StoredContent,
    backup_remote_tree,
)
from resguardo.engine.repository import Repository
from resguardo.engine.restorer import restore
from resguardo.engine.snapshot import find_snapshot
from resguardo.engine.tree import FILE
from resguardo.sources.sshtar import BATCH_FILES, TAR_FILE_BYTES, TarStream, shrunk_paths
from resguardo.sources.sshtree import SshTreeSource, parse_target
from tests.fixtures.sshd import SshServer, start_server
from tests.sources.test_sshtree import OPTIONS

pytestmark = pytest.mark.slow

SMALL_FILES = BATCH_FILES + 300
"""More small files than one tar run takes: two batches at least."""
ODD_NAMES = [b"with space.txt", b"new\nline.txt", b"caf\xe9-latin1.txt", b"\xff\xfe", b"x" * 200]


def make_tree(root: Path) -> Path:
    """Create many small files, two large ones, odd names, an empty file and a symlink under ``root``."""
    for number in range(SMALL_FILES):
        folder = root / "small" / f"d{number % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{number}.txt").write_bytes(os.urandom(number % 1500 + 1))
    (root / "large").mkdir()
    (root / "large" / "a.bin").write_bytes(os.urandom(TAR_FILE_BYTES + 1))
    (root / "large" / "b.bin").write_bytes(os.urandom(3 * TAR_FILE_BYTES))
    odd = os.fsencode(root / "odd")
    os.mkdir(odd)
    for name in ODD_NAMES:
        with open(odd + b"/" + name, "wb") as file:
            file.write(name * 3)
    (root / "odd" / "empty").write_bytes(b"")
    (root / "odd" / "link").symlink_to("../large/a.bin")
    (root / "odd" / "secret").write_bytes(b"s" * 700)
    (root / "odd" / "secret").chmod(0o600)
    return root


def source_for(server: SshServer, parallel: int = 8, use_tar: bool = True) -> SshTreeSource:
    location = parse_target(f"{server.user}@127.0.0.1:{server.port}", "nobody")
    credentials = Credentials(str(server.client_key), str(server.known_hosts))
    return SshTreeSource(location, credentials, parallel, use_tar)


def run_backup(repository: Repository, source: SshTreeSource, tree: Path) -> tuple[BackupResult, list[str]]:
    """Back ``tree`` up through ``source`` (closed afterwards); return the result and the warnings."""
    warnings: list[str] = []
    try:
        result = backup_remote_tree(
            repository,
            source,
            [str(tree)],
            OPTIONS,
            lambda event: (
                warnings.append(f"{getattr(event, 'path', '')}: {getattr(event, 'message', '')}")
                if hasattr(event, "message")
                else None
            ),
        )
    finally:
        source.close()
    return result, warnings


def assert_restored_like(repository: Repository, tree: Path, target: Path) -> None:
    """Restore the latest snapshot into ``target``; compare every path with ``tree``, byte for byte."""
    snapshot = find_snapshot(repository, "latest", hostname=OPTIONS.hostname)
    restore(repository, snapshot, str(target))
    restored = os.fsencode(target) + os.fsencode(tree)
    original_root = os.fsencode(tree)
    compared = 0
    for folder, folders, files in os.walk(original_root):
        for name in folders + files:
            original = os.path.join(folder, name)
            copy = restored + original[len(original_root) :]
            before, after = os.lstat(original), os.lstat(copy)
            assert stat.S_IFMT(before.st_mode) == stat.S_IFMT(after.st_mode), original
            compared += 1
            if stat.S_ISLNK(before.st_mode):
                assert os.readlink(copy) == os.readlink(original)
                continue
            assert stat.S_IMODE(before.st_mode) == stat.S_IMODE(after.st_mode), original
            assert before.st_mtime_ns == after.st_mtime_ns, original
            if stat.S_ISREG(before.st_mode):
                with open(original, "rb") as first, open(copy, "rb") as second:
                    assert first.read() == second.read(), original
    assert compared > SMALL_FILES


def sizes_under(tree: Path) -> int:
    return sum(path.stat().st_size for path in tree.rglob("*") if path.is_file() and not path.is_symlink())


def test_a_first_backup_reads_small_files_through_tar_and_restores_them_byte_for_byte(
    sshd_server: SshServer, repository: Repository, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "client")
    result, warnings = run_backup(repository, source_for(sshd_server), tree)
    summary = result.snapshot.summary
    assert warnings == []
    small = SMALL_FILES + len(ODD_NAMES) + 1  # the secret too; the empty file is not read
    assert summary["files_read"] == small + 2 and summary["files_streamed"] == small
    assert summary["content_bytes"] == sizes_under(tree)
    assert_restored_like(repository, tree, tmp_path / "restored")


def test_an_unchanged_rerun_after_tar_streams_moves_no_content(
    sshd_server: SshServer, repository: Repository, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "client")
    run_backup(repository, source_for(sshd_server), tree)
    result, _warnings = run_backup(repository, source_for(sshd_server), tree)
    summary = result.snapshot.summary
    assert summary["content_bytes"] == 0 and summary["files_read"] == 0 and summary["files_new"] == 0


class ChangingSource(SshTreeSource):
    """Changes the client's files after listing them, before anything is read (the test's seam)."""

    def __init__(self, server: SshServer, change: Callable[[], None]) -> None:
        plain = source_for(server)
        super().__init__(plain.location, plain.credentials)
        self.change = change

    def list_tree(self, paths: Sequence[bytes], one_file_system: bool) -> RemoteListing:
        listing = super().list_tree(paths, one_file_system)
        self.change()
        return listing


def rewrite_keeping_mtime(path: Path, content: bytes) -> None:
    """Write ``content`` into ``path`` and put its modification time back (the listing's)."""
    before = path.stat()
    path.write_bytes(content)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_files_deleted_grown_or_shrunk_after_the_listing_are_read_as_they_are_then(
    sshd_server: SshServer, repository: Repository, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "client")
    gone = tree / "small" / "d3" / "f10.txt"
    grown = tree / "small" / "d4" / "f11.txt"
    shrunk = tree / "small" / "d5" / "f12.txt"

    def change() -> None:
        folder = gone.parent.stat()
        gone.unlink()
        os.utime(gone.parent, ns=(folder.st_atime_ns, folder.st_mtime_ns))
        rewrite_keeping_mtime(grown, b"g" * 5000)
        rewrite_keeping_mtime(shrunk, b"s")

    result, warnings = run_backup(repository, ChangingSource(sshd_server, change), tree)
    assert result.unreadable == [(str(gone), "file vanished before it could be read")]
    assert result.snapshot.summary["files_streamed"] == SMALL_FILES + len(ODD_NAMES)
    changed = "file changed while it was read; the stored copy may be inconsistent"
    assert sorted(warnings) == sorted(
        [f"{gone}: file vanished before it could be read", f"{grown}: {changed}", f"{shrunk}: {changed}"]
    )
    assert_restored_like(repository, tree, tmp_path / "restored")


def test_tar_reports_of_files_that_shrank_while_read_name_them_exactly() -> None:
    errors = (
        b"tar: /srv/a b: File shrank by 10 bytes; padding with zeros\n"
        b"tar: /srv/new\nline: File shrank by 3 bytes; padding with zeros\n"
        b"tar: /srv/c: file changed as we read it\n"
    )
    paths = [b"/srv/a b", b"/srv/new\nline", b"/srv/c", b"/srv/a"]
    assert shrunk_paths(errors, paths) == {b"/srv/a b", b"/srv/new\nline"}
    assert shrunk_paths(b"tar: /srv/c: file changed as we read it\n", paths) == set()


@pytest.fixture(scope="module")
def server_without_tar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """An sshd whose sessions get a PATH holding every program of /usr/bin but tar."""
    root = tmp_path_factory.mktemp("sshd-no-tar")
    tools = root / "bin"
    tools.mkdir()
    for program in Path("/usr/bin").iterdir():
        if program.name != "tar":
            (tools / program.name).symlink_to(program)
    server = start_server(root / "server", [f"SetEnv PATH={tools}"])
    try:
        yield server
    finally:
        server.stop()


def test_a_client_without_tar_has_every_file_read_over_sftp(
    server_without_tar: SshServer, repository: Repository, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "client")
    result, warnings = run_backup(repository, source_for(server_without_tar), tree)
    summary = result.snapshot.summary
    assert warnings == [] and summary["files_streamed"] == 0
    assert summary["files_read"] == SMALL_FILES + len(ODD_NAMES) + 3
    assert summary["content_bytes"] == sizes_under(tree)
    assert_restored_like(repository, tree, tmp_path / "restored")


def test_the_no_tar_option_reads_every_file_over_sftp(
    sshd_server: SshServer, repository: Repository, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "client")
    result, _warnings = run_backup(repository, source_for(sshd_server, use_tar=False), tree)
    summary = result.snapshot.summary
    assert summary["files_streamed"] == 0 and summary["files_read"] == SMALL_FILES + len(ODD_NAMES) + 3


@pytest.fixture(scope="module")
def server_of_two_sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """An sshd that opens at most two sessions per connection."""
    server = start_server(tmp_path_factory.mktemp("sshd-two"), ["MaxSessions 2"])
    try:
        yield server
    finally:
        server.stop()


def test_more_parallel_reads_than_max_sessions_go_on_with_the_sessions_granted_and_warn(
    server_of_two_sessions: SshServer,
    repository: Repository,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tree = make_tree(tmp_path / "client")
    source = source_for(server_of_two_sessions, parallel=8)
    with caplog.at_level(logging.WARNING, logger="resguardo.sources.ssh"):
        result, warnings = run_backup(repository, source, tree)
    assert warnings == [] and not result.unreadable
    # Asked: two tar streams and two SFTP readers (one per large file); granted: two.
    assert source.parallel == 2
    messages = [record.getMessage() for record in caplog.records if record.name == "resguardo.sources.ssh"]
    assert len(messages) == 1 and "opened 2 of the 4 sessions asked" in messages[0]
    assert "MaxSessions" in messages[0] and "--ssh-parallel 2" in messages[0]
    assert_restored_like(repository, tree, tmp_path / "restored")


def test_no_session_granted_for_reading_is_an_error_naming_max_sessions(
    server_of_two_sessions: SshServer, repository: Repository, tmp_path: Path
) -> None:
    tree = tmp_path / "client"
    tree.mkdir()
    (tree / "file").write_bytes(b"content")
    held: list[paramiko.Channel] = []

    def hold_every_session() -> None:
        transport = source.transport_now()
        held.extend(transport.open_session() for _ in range(2))

    source = ChangingSource(server_of_two_sessions, hold_every_session)
    with pytest.raises(SourceError, match="refused every session asked for reading files") as raised:
        run_backup(repository, source, tree)
    assert "MaxSessions" in raised.value.hint and "--ssh-parallel" in raised.value.hint


def test_a_server_granting_no_session_at_all_says_so_before_listing(
    tmp_path: Path, repository: Repository
) -> None:
    server = start_server(tmp_path / "sshd", ["MaxSessions 0"])
    try:
        with pytest.raises(SourceError, match="refused to open a session") as raised:
            run_backup(repository, source_for(server), tmp_path)
    finally:
        server.stop()
    assert "MaxSessions" in raised.value.hint


class ArchiveChannel:
    """Stands in for a session channel whose tar printed ``archive`` (unit tests of the parser)."""

    def __init__(self, archive: bytes) -> None:
        self.archive = io.BytesIO(archive)
        self.closed = False

    def exec_command(self, command: str) -> None:
        assert "--null" in command and "-T -" in command

    def sendall(self, data: bytes) -> None:
        pass

    def shutdown_write(self) -> None:
        pass

    def recv(self, size: int) -> bytes:
        return self.archive.read(min(size, 700))  # small pieces: headers and files straddle them

    def recv_stderr(self, size: int) -> bytes:
        return b""

    def close(self) -> None:
        self.closed = True

    def get_transport(self) -> None:
        return None


def gnu_archive(members: Sequence[tuple[str, bytes | None, bytes]]) -> bytes:
    """Return a GNU tar archive of (name, content or None for a folder, hard link target) members."""
    output = io.BytesIO()
    with tarfile.open(fileobj=output, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8") as archive:
        for name, content, link in members:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.LNKTYPE, link.decode()
                archive.addfile(info)
            elif content is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return output.getvalue()


def stored(entry: RemoteEntry, reader: BinaryIO) -> StoredContent:
    return StoredContent([reader.read(WHOLE_READ_BYTES + 1)], entry.size)


LONG = "/srv/" + "l" * 150


def test_the_archive_parser_takes_regular_files_and_leaves_the_rest_for_sftp() -> None:
    archive = gnu_archive(
        [
            ("/srv/a", b"a" * 10, b""),
            ("/srv/dir", None, b""),
            (LONG, b"long", b""),
            ("/srv/h", b"", b"/srv/a"),
        ]
    )
    entries = [RemoteEntry(path, FILE, size=4) for path in (b"/srv/a", b"/srv/gone", b"/srv/dir")]
    entries += [RemoteEntry(LONG.encode(), FILE, size=4), RemoteEntry(b"/srv/h", FILE, size=10)]
    counted: list[int] = []
    outcome = TarStream(ArchiveChannel(archive), entries, counted.append).run(stored)
    assert [(entry.path, result.content) for entry, result in outcome.read] == [  # type: ignore[union-attr]
        (b"/srv/a", [b"a" * 10]),
        (LONG.encode(), [b"long"]),
    ]
    assert sorted(entry.path for entry in outcome.left_over) == [b"/srv/dir", b"/srv/gone", b"/srv/h"]
    assert sum(counted) == 14


def test_an_archive_cut_short_leaves_the_file_it_was_in_and_the_rest_for_sftp() -> None:
    archive = gnu_archive([("/srv/a", b"a" * 10, b""), ("/srv/b", b"b" * 3000, b"")])
    entries = [RemoteEntry(b"/srv/a", FILE, size=10), RemoteEntry(b"/srv/b", FILE, size=3000)]
    entries.append(RemoteEntry(b"/srv/c", FILE, size=1))
    channel = ArchiveChannel(archive[: 512 * 3 + 1000])
    outcome = TarStream(channel, entries, lambda amount: None).run(stored)
    assert [entry.path for entry, _result in outcome.read] == [b"/srv/a"]
    assert sorted(entry.path for entry in outcome.left_over) == [b"/srv/b", b"/srv/c"]
    assert channel.closed
