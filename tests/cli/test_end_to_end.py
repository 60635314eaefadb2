"""The real command as a subprocess: a whole round trip, pipes, exit codes 3 and 11, and start-up time."""

from __future__ import annotations

import glob
import os
import pty
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from resguardo.core.errors import EXIT_PARTIAL, EXIT_REPOSITORY_LOCKED
from tests.cli.conftest import PASSPHRASE, Outcome, run_subprocess, subprocess_env, write

pytestmark = pytest.mark.slow

LOCK_HOLDER = """
import sys, time
from resguardo.backends import LocalStorage
from resguardo.engine.locks import locked
from resguardo.engine.repository import Repository

repository = Repository.open(LocalStorage(sys.argv[1]), sys.argv[2].encode())
with locked(repository, exclusive=True):
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def repository(tmp_path: Path, password_file: Path) -> list[str]:
    """Return the global options of a repository created by a ``resguardo init`` subprocess."""
    options = ["--repo", str(tmp_path / "repository"), "--password-file", str(password_file)]
    created = run_subprocess([*options, "init", "--pack-size", "1"])
    assert created.exit_code == 0, created.stderr
    return options


def run(options: list[str], *argv: str, input: bytes | None = None) -> Outcome:
    return run_subprocess([*options, *argv], input=input)


def test_round_trip_as_a_subprocess(repository: list[str], source: Path, tmp_path: Path) -> None:
    first = run(repository, "backup", str(source))
    assert first.exit_code == 0, first.stderr
    assert "snapshot " in first.stdout
    assert first.stderr == ""

    second = run(repository, "--json", "backup", str(source))
    assert second.exit_code == 0, second.stderr
    summary = second.json_lines()[-1]
    assert summary["files_unchanged"] == 3
    assert summary["files_new"] == summary["files_changed"] == 0

    snapshots = run(repository, "--json", "snapshots").json()
    assert [snapshot["id"] for snapshot in snapshots][-1] == summary["snapshot_id"]

    target = tmp_path / "restored"
    restored = run(repository, "restore", "latest", "--target", str(target))
    assert restored.exit_code == 0, restored.stderr
    assert (target / str(source).lstrip("/") / "sub" / "b.bin").read_bytes() == (
        source / "sub" / "b.bin"
    ).read_bytes()

    checked = run(repository, "check", "--read-data")
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.rstrip().endswith("no errors found")


def test_stdin_from_a_pipe_comes_back_byte_for_byte(repository: list[str], tmp_path: Path) -> None:
    data = os.urandom(5_000_000) + bytes(range(256)) * 1000
    producer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read())",
            str(write(tmp_path / "blob", data)),
        ],
        stdout=subprocess.PIPE,
    )
    consumer = subprocess.run(
        [
            sys.executable,
            "-m",
            "resguardo",
            *repository,
            "--json",
            "backup",
            "--stdin",
            "--stdin-name",
            "dump.bin",
        ],
        stdin=producer.stdout,
        capture_output=True,
        env=subprocess_env(),
        timeout=120,
        check=False,
    )
    assert producer.stdout is not None
    producer.stdout.close()
    assert producer.wait() == 0
    assert consumer.returncode == 0, consumer.stderr
    dumped = run(repository, "dump", "latest", "/dump.bin")
    assert dumped.exit_code == 0, dumped.stderr
    assert dumped.stdout_bytes == data


def test_a_reader_that_goes_away_ends_dump_quietly(repository: list[str], tmp_path: Path) -> None:
    write(tmp_path / "big" / "file", os.urandom(4_000_000))
    assert run(repository, "backup", str(tmp_path / "big")).exit_code == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "resguardo", *repository, "dump", "latest", str(tmp_path / "big" / "file")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
    )
    assert process.stdout is not None and process.stderr is not None
    assert len(process.stdout.read(1000)) == 1000
    process.stdout.close()
    error = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) == 141
    assert "Traceback" not in error


def _unreadable_as_root() -> str | None:
    """Return a sysfs file that even root cannot open for reading (write-only attributes), if any."""
    candidates = [
        *glob.glob("/sys/bus/*/rescan"),
        *glob.glob("/sys/bus/*/drivers_probe"),
        *glob.glob("/sys/class/*/hot_remove"),
        *glob.glob("/sys/devices/*/*/rescan"),
    ]
    for candidate in candidates:
        try:
            status = os.stat(candidate)
            if not stat.S_ISREG(status.st_mode) or status.st_size == 0 or status.st_mode & 0o444:
                continue
            with open(candidate, "rb"):
                continue
        except PermissionError:
            return candidate
        except OSError:
            continue
    return None


def test_an_unreadable_file_makes_a_partial_backup_with_exit_3(repository: list[str], source: Path) -> None:
    """Not root: a file with mode 000. Root reads any file, so a write-only sysfs attribute stands in.

    Without one (no sysfs), this is skipped; the in-process test in test_backup_restore covers exit 3 anyway.
    """
    if os.geteuid() != 0:
        locked_out = write(source / "secret", b"no one may read this")
        locked_out.chmod(0)
        unreadable = str(locked_out)
    else:
        found = _unreadable_as_root()
        if found is None:
            pytest.skip("running as root and no write-only sysfs file to stand in for an unreadable file")
        unreadable = found
    outcome = run(repository, "--json", "backup", str(source), unreadable)
    assert outcome.exit_code == EXIT_PARTIAL, outcome.stderr
    summary = outcome.json_lines()[-1]
    assert summary["partial"] is True
    assert [item["path"] for item in summary["unreadable"]] == [unreadable]
    assert summary["unreadable"][0]["message"] == "permission denied"
    assert outcome.stderr.startswith('{"message_type": "error", "code": 3')

    text = run(repository, "backup", "--force", str(source), unreadable)
    assert text.exit_code == EXIT_PARTIAL
    assert f"warning: {unreadable}: permission denied" in text.stderr
    assert "error: 1 file could not be read; snapshot " in text.stderr
    assert "Traceback" not in text.stderr


def test_a_live_lock_of_another_process_exits_11_and_a_dead_one_is_only_a_warning(
    repository: list[str], source: Path, tmp_path: Path
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(tmp_path / "repository"), PASSPHRASE],
        stdout=subprocess.PIPE,
        env=subprocess_env(),
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        outcome = run(repository, "backup", str(source))
        assert outcome.exit_code == EXIT_REPOSITORY_LOCKED
        first_line, hint = outcome.stderr.splitlines()
        assert first_line.startswith(
            f"error: the repository is locked: exclusive lock by PID {holder.pid} on "
        )
        assert hint == "hint: wait for it to finish; if that process is gone, run 'resguardo unlock'"
        assert (
            run(repository, "restore", "latest", "--target", str(tmp_path / "t")).exit_code
            == EXIT_REPOSITORY_LOCKED
        )
        assert run(repository, "check").exit_code == EXIT_REPOSITORY_LOCKED
        assert run(repository, "snapshots").exit_code == 0
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    after = run(repository, "backup", str(source))
    assert after.exit_code == 0, after.stderr
    assert "warning: ignoring a stale exclusive lock by PID" in after.stderr
    unlocked = run(repository, "unlock")
    assert unlocked.exit_code == 0
    assert "1 lock(s) removed" in unlocked.stdout


def test_a_terminal_on_standard_error_gets_a_progress_bar(repository: list[str], tmp_path: Path) -> None:
    for index in range(200):
        write(tmp_path / "many" / f"file-{index}", os.urandom(20_000))
    controller, terminal = pty.openpty()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "resguardo", *repository, "backup", str(tmp_path / "many")],
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=subprocess_env(COLUMNS="120"),
            timeout=120,
            check=False,
        )
        os.close(terminal)
        drawn = b""
        while True:
            try:
                block = os.read(controller, 65536)
            except OSError:
                break
            if not block:
                break
            drawn += block
    finally:
        os.close(controller)
    assert completed.returncode == 0, drawn
    assert b"Traceback" not in drawn
    assert b"snapshot " in completed.stdout


HEAVY_LIBRARIES = (
    "sqlalchemy",
    "alembic",
    "fastapi",
    "uvicorn",
    "jinja2",
    "httpx",
    "paramiko",
    "boto3",
    "numpy",
    "psycopg",
)


def test_help_loads_no_catalog_server_or_storage_library() -> None:
    # What makes a command start slowly is what it imports: --help (and every command's parsing) must
    # not load the catalog, the server or a storage library, which commands import when they run.
    probe = (
        "import sys\n"
        "sys.argv = ['resguardo', '--help']\n"
        "from resguardo.cli.main import run\n"
        "try:\n"
        "    run()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(name for name in {HEAVY_LIBRARIES!r} if name in sys.modules), file=sys.stderr)\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert "Usage: resguardo" in completed.stdout
    assert completed.stderr.strip().splitlines()[-1] == "[]"
