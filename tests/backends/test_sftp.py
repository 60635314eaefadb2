"""The SFTP storage against a real OpenSSH server: locations, host keys, keys, retries, processes."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from resguardo.backends._sftp_connect import AuthenticationFailed, HostKeyError, parse_location
from resguardo.backends.open import open_storage
from resguardo.backends.retry import RetryPolicy
from resguardo.backends.sftp import SftpStorage
from resguardo.core.errors import ConfigurationError, ObjectNotFound, StorageError
from tests.backends.conftest import QUICK_RETRIES, sftp_storage_on
from tests.fixtures.sshd import SshServer, generate_key, public_key, start_server

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[SshServer]:
    """A server of this test alone, which it may stop, restart or cut off."""
    server = start_server(tmp_path / "own-sshd")
    try:
        yield server
    finally:
        server.stop()


def host_fingerprint(server: SshServer) -> str:
    listed = subprocess.run(
        ["ssh-keygen", "-lf", str(server.host_key) + ".pub"], capture_output=True, text=True, check=True
    )
    return listed.stdout.split()[1]


# -- locations ------------------------------------------------------------------------------------


def test_one_slash_is_relative_to_the_login_folder_and_two_are_absolute() -> None:
    relative = parse_location("sftp://backup@nas.example:2222/repos/laptop")
    absolute = parse_location("sftp://backup@nas.example:2222//srv/repos/laptop/")
    assert (relative.user, relative.host, relative.port, relative.path) == (
        "backup",
        "nas.example",
        2222,
        "repos/laptop",
    )
    assert absolute.path == "/srv/repos/laptop"
    assert str(absolute) == "sftp://backup@nas.example:2222//srv/repos/laptop"


def test_port_and_user_default_to_22_and_the_local_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "someone")
    location = parse_location("sftp://[::1]/repo")
    assert (location.user, location.host, location.port) == ("someone", "::1", 22)
    assert location.known_hosts_name == "::1"
    assert str(location) == "sftp://someone@[::1]/repo"


@pytest.mark.parametrize(
    ("location", "complaint"),
    [
        ("sftp://user:secret@host/repo", "no password"),
        ("sftp://host", "no repository folder"),
        ("sftp://host//", "no repository folder"),
        ("sftp://host:port/repo", "invalid port"),
        ("sftp:///repo", "with a host"),
    ],
)
def test_malformed_locations_are_refused_with_the_reason(location: str, complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as raised:
        open_storage(location)
    assert "secret" not in str(raised.value) + raised.value.hint


def test_open_storage_knows_sftp_and_still_refuses_unknown_schemes() -> None:
    assert isinstance(open_storage("sftp://user@host//srv/repo"), SftpStorage)
    with pytest.raises(ConfigurationError, match="not supported") as raised:
        open_storage("ftp://host/repo")
    assert "sftp://" in raised.value.hint


def test_a_relative_path_lands_in_the_login_folder(sshd_server: SshServer) -> None:
    storage = SftpStorage(
        f"sftp://{sshd_server.user}@127.0.0.1:{sshd_server.port}/relative-repository",
        key_file=str(sshd_server.client_key),
        known_hosts=str(sshd_server.known_hosts),
    )
    try:
        storage.save("config", b"settings")
    finally:
        storage.close()
    assert (sshd_server.home / "relative-repository" / "config").read_bytes() == b"settings"


def test_storage_is_remote_and_shareable(sftp_storage: SftpStorage) -> None:
    assert not sftp_storage.is_local
    assert sftp_storage.shareable_between_processes
    assert sftp_storage.location.startswith("sftp://")


# -- host keys ------------------------------------------------------------------------------------


def test_an_unknown_host_key_is_refused_with_its_fingerprint_and_how_to_add_it(
    sshd_server: SshServer, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    storage = sftp_storage_on(sshd_server, tmp_path / "repository", known_hosts=empty)
    with pytest.raises(HostKeyError, match="is not known") as raised:
        storage.exists("config")
    message = str(raised.value)
    assert host_fingerprint(sshd_server) in message
    assert f"[127.0.0.1]:{sshd_server.port}" in message
    assert f"ssh-keyscan -p {sshd_server.port} -t ssh-ed25519 127.0.0.1 >> {empty}" in raised.value.hint
    assert "CHANGED" not in message
    assert empty.read_text() == ""  # never accepted on trust


def test_a_changed_host_key_is_refused_with_an_alarm(sshd_server: SshServer, tmp_path: Path) -> None:
    impostor = generate_key(tmp_path / "other_host_key")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd_server.port} {public_key(impostor)}\n")
    storage = sftp_storage_on(sshd_server, tmp_path / "repository", known_hosts=known_hosts)
    with pytest.raises(HostKeyError, match="CHANGED") as raised:
        storage.save("config", b"must not be sent")
    assert host_fingerprint(sshd_server) in str(raised.value)
    assert "man-in-the-middle" in str(raised.value)
    assert "ssh-keygen -R" in raised.value.hint
    assert not (tmp_path / "repository").exists()


def test_a_key_known_for_port_22_only_does_not_vouch_for_another_port(
    sshd_server: SshServer, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"127.0.0.1 {public_key(sshd_server.host_key)}\n")
    storage = sftp_storage_on(sshd_server, tmp_path / "repository", known_hosts=known_hosts)
    with pytest.raises(HostKeyError, match="is not known"):
        storage.exists("config")


def test_hashed_known_hosts_entries_are_understood(sshd_server: SshServer, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd_server.known_hosts.read_text())
    subprocess.run(["ssh-keygen", "-H", "-f", str(known_hosts)], check=True, capture_output=True)
    assert "127.0.0.1" not in known_hosts.read_text()
    storage = sftp_storage_on(sshd_server, tmp_path / "repository", known_hosts=known_hosts)
    try:
        storage.save("config", b"hashed")
        assert storage.load("config") == b"hashed"
    finally:
        storage.close()


# -- keys -----------------------------------------------------------------------------------------


def test_a_refused_key_fails_at_once_saying_which_key(sshd_server: SshServer, tmp_path: Path) -> None:
    stranger = generate_key(tmp_path / "stranger_key")
    pauses: list[float] = []
    storage = SftpStorage(
        sshd_server.location(tmp_path / "repository"),
        key_file=str(stranger),
        known_hosts=str(sshd_server.known_hosts),
        sleep=pauses.append,
    )
    with pytest.raises(AuthenticationFailed, match="refused every SSH key") as raised:
        storage.exists("config")
    assert str(stranger) in str(raised.value)
    assert "authorized_keys" in raised.value.hint
    assert pauses == []


def test_a_locked_key_without_an_agent_says_to_unlock_it(
    sshd_server: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    locked = generate_key(tmp_path / "locked_key", passphrase="a long passphrase")
    storage = sftp_storage_on(sshd_server, tmp_path / "repository", key_file=locked)
    with pytest.raises(ConfigurationError, match="protected by a passphrase") as raised:
        storage.exists("config")
    assert f"ssh-add {locked}" in raised.value.hint


def test_a_missing_explicit_key_is_a_configuration_error(sshd_server: SshServer, tmp_path: Path) -> None:
    storage = sftp_storage_on(sshd_server, tmp_path / "repository", key_file=tmp_path / "no-such-key")
    with pytest.raises(ConfigurationError, match="no-such-key"):
        storage.exists("config")


def test_keys_and_known_hosts_are_found_where_openssh_keeps_them(
    sshd_server: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_bytes(sshd_server.client_key.read_bytes())
    (home / ".ssh" / "known_hosts").write_text(sshd_server.known_hosts.read_text())
    monkeypatch.setenv("HOME", str(home))
    for variable in ("SSH_AUTH_SOCK", "RESGUARDO_SFTP_KEY", "RESGUARDO_SFTP_KNOWN_HOSTS"):
        monkeypatch.delenv(variable, raising=False)
    storage = SftpStorage(sshd_server.location(tmp_path / "repository"))
    try:
        storage.save("config", b"found")
        assert storage.load("config") == b"found"
    finally:
        storage.close()


def test_no_key_at_all_says_where_it_looked(
    sshd_server: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(sshd_server.known_hosts.read_text())
    monkeypatch.setenv("HOME", str(home))
    for variable in ("SSH_AUTH_SOCK", "RESGUARDO_SFTP_KEY", "RESGUARDO_SFTP_KNOWN_HOSTS"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ConfigurationError, match="no SSH key found") as raised:
        SftpStorage(sshd_server.location(tmp_path / "repository")).exists("config")
    assert "~/.ssh/id_ed25519" in str(raised.value)
    assert "RESGUARDO_SFTP_KEY" in raised.value.hint


def test_the_environment_names_the_key_and_known_hosts(
    sshd_server: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    monkeypatch.setenv("RESGUARDO_SFTP_KEY", str(sshd_server.client_key))
    monkeypatch.setenv("RESGUARDO_SFTP_KNOWN_HOSTS", str(sshd_server.known_hosts))
    storage = open_storage(sshd_server.location(tmp_path / "repository"))
    try:
        storage.save("config", b"from the environment")
    finally:
        storage.close()
    assert (tmp_path / "repository" / "config").read_bytes() == b"from the environment"


# -- saving and reading ---------------------------------------------------------------------------


def test_missing_folders_are_created_on_save_and_no_temporary_file_stays(
    sftp_storage: SftpStorage, sshd_server: SshServer
) -> None:
    sftp_storage.save("data/ab/abcdef", b"pack")
    root = Path(sftp_storage.address.path)
    assert (root / "data" / "ab" / "abcdef").read_bytes() == b"pack"
    assert os.listdir(root / "data" / "ab") == ["abcdef"]


def test_large_objects_are_read_in_ranges(sftp_storage: SftpStorage) -> None:
    data = os.urandom(5_000_000)
    sftp_storage.save("data/00/big", data)
    assert sftp_storage.load("data/00/big", 3_000_000, 1_000_000) == data[3_000_000:4_000_000]
    assert sftp_storage.load("data/00/big", 4_999_990) == data[4_999_990:]
    assert sftp_storage.load("data/00/big") == data


def test_leftover_temporary_files_are_never_listed(sftp_storage: SftpStorage) -> None:
    sftp_storage.save("data/ab/ab01", b"pack")
    Path(sftp_storage.address.path, "data", "ab", ".tmp-ab02.1234abcd").write_bytes(b"half a pack")
    assert [stored.name for stored in sftp_storage.list("data/")] == ["data/ab/ab01"]


def test_threads_share_at_most_the_configured_connections(sshd_server: SshServer, tmp_path: Path) -> None:
    storage = sftp_storage_on(sshd_server, tmp_path / "repository", connections=2)
    errors: list[BaseException] = []

    def work(number: int) -> None:
        try:
            for step in range(10):
                storage.save(f"data/{number:02x}/{step}", bytes([number]) * 50_000)
                assert storage.load(f"data/{number:02x}/{step}") == bytes([number]) * 50_000
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert storage._pool.open_count <= 2
        assert len(list(storage.list("data/"))) == 60
    finally:
        storage.close()


# -- failures: transient ones are retried, lasting ones are not -----------------------------------


def test_a_dropped_connection_is_reopened_and_the_operation_succeeds(
    own_server: SshServer, tmp_path: Path
) -> None:
    storage = sftp_storage_on(own_server, tmp_path / "repository")
    try:
        storage.save("config", b"before the drop")
        before = own_server.session_processes()
        assert own_server.drop_connections() >= 1
        assert storage.load("config") == b"before the drop"
        storage.save("config", b"after the drop")
        assert storage.load("config") == b"after the drop"
        assert not set(before) & set(own_server.session_processes())
    finally:
        storage.close()


def test_a_connection_dropped_in_the_middle_of_a_read_is_retried(
    own_server: SshServer, tmp_path: Path
) -> None:
    pauses: list[float] = []
    storage = SftpStorage(
        own_server.location(tmp_path / "repository"),
        key_file=str(own_server.client_key),
        known_hosts=str(own_server.known_hosts),
        retry=QUICK_RETRIES,
        sleep=pauses.append,
        connections=1,
    )
    data = os.urandom(2_000_000)
    try:
        storage.save("data/00/big", data)
        session = storage._pool.idle[0]
        session.transport.sock.close()  # the network goes away underneath a live session
        assert storage.load("data/00/big") == data
        assert len(pauses) == 1
    finally:
        storage.close()


def test_a_server_that_is_down_for_a_while_is_waited_for(own_server: SshServer, tmp_path: Path) -> None:
    storage = sftp_storage_on(own_server, tmp_path / "repository")
    storage.save("config", b"kept")
    storage.close()
    own_server.stop()
    pauses: list[float] = []

    def pause_then_restart(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 2:
            own_server.start(port=own_server.port)

    storage.sleep = pause_then_restart
    try:
        assert storage.load("config") == b"kept"
        assert len(pauses) == 2
        assert pauses[1] > pauses[0] / 2
    finally:
        storage.close()


def test_a_server_that_stays_down_fails_after_the_policy_s_attempts(tmp_path: Path) -> None:
    pauses: list[float] = []
    storage = SftpStorage(
        "sftp://nobody@127.0.0.1:1//repository",
        key_file=str(tmp_path / "unused"),
        known_hosts=str(tmp_path / "unused"),
        retry=RetryPolicy(attempts=3, base_delay=0.01),
        sleep=pauses.append,
    )
    with pytest.raises(StorageError, match="tried 3 times") as raised:
        storage.exists("config")
    assert "connection refused" in str(raised.value)
    assert len(pauses) == 2


def test_a_missing_object_fails_at_once(sshd_server: SshServer, tmp_path: Path) -> None:
    pauses: list[float] = []
    storage = SftpStorage(
        sshd_server.location(tmp_path / "repository"),
        key_file=str(sshd_server.client_key),
        known_hosts=str(sshd_server.known_hosts),
        sleep=pauses.append,
    )
    try:
        started = time.monotonic()
        with pytest.raises(ObjectNotFound, match="snapshots/missing"):
            storage.load("snapshots/missing")
        assert pauses == []
        assert time.monotonic() - started < 5
    finally:
        storage.close()


def test_a_path_blocked_by_a_file_fails_at_once_with_a_clear_message(
    sshd_server: SshServer, tmp_path: Path
) -> None:
    (tmp_path / "repository").write_bytes(b"a file where the repository folder should be")
    pauses: list[float] = []
    storage = SftpStorage(
        sshd_server.location(tmp_path / "repository"),
        key_file=str(sshd_server.client_key),
        known_hosts=str(sshd_server.known_hosts),
        sleep=pauses.append,
    )
    try:
        with pytest.raises(StorageError, match="cannot write") as raised:
            storage.save("data/ab/abcdef", b"pack")
        assert "127.0.0.1" in str(raised.value)
        assert pauses == []
    finally:
        storage.close()


# -- worker processes -----------------------------------------------------------------------------


def test_a_pickled_storage_carries_no_connection_and_reconnects_in_another_process(
    sftp_storage: SftpStorage,
) -> None:
    sftp_storage.save("config", b"seen from the child")
    assert sftp_storage._pool.open_count == 1
    pickled = pickle.dumps(sftp_storage)
    assert b"PRIVATE KEY" not in pickled
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pickle, sys; storage = pickle.load(sys.stdin.buffer); "
            "sys.stdout.buffer.write(storage.load('config')); storage.save('from-child', b'hello')",
        ],
        input=pickled,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": SRC},
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr.decode()
    assert child.stdout == b"seen from the child"
    assert sftp_storage.load("from-child") == b"hello"
    copy = pickle.loads(pickled)
    assert copy._pool.open_count == 0
    assert copy.location == sftp_storage.location


def test_backup_restore_and_check_run_their_worker_processes_on_sftp(
    sftp_storage: SftpStorage, tmp_path: Path
) -> None:
    from resguardo.engine.archiver import BackupOptions, backup
    from resguardo.engine.checker import check
    from resguardo.engine.crypto import KdfParameters
    from resguardo.engine.repository import Repository
    from resguardo.engine.restorer import restore

    source = tmp_path / "source"
    (source / "nested").mkdir(parents=True)
    files = {source / f"file-{number}": os.urandom(150_000) for number in range(12)}
    files[source / "nested" / "small"] = b"small"
    for path, data in files.items():
        path.write_bytes(data)
    repository = Repository.create(sftp_storage, b"passphrase", kdf=KdfParameters(1024, 1, 1))

    result = backup(repository, [str(source)], BackupOptions(workers=2, processes=True))
    restored = restore(repository, result.snapshot, str(tmp_path / "target"), processes=True, workers=2)
    report = check(repository, read_data=True, processes=True, workers=2)

    assert restored.errors == []
    for path, data in files.items():
        assert (tmp_path / "target" / str(path).lstrip("/")).read_bytes() == data
    assert report.ok, report.errors
    assert report.counts.packs_read > 0
