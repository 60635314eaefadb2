"""A backup killed at any point leaves a healthy repository, and the next backup reuses what it wrote.

Each case copies one prepared repository (holding snapshot A of a source tree), changes nothing else,
and runs a backup of the changed tree (state B) in a child process (:mod:`tests.engine.crash_helper`)
that kills its whole process group with SIGKILL at a chosen point: before, halfway through, or right
after the N-th save of a pack, of the index file, of the snapshot. Some more cases kill a larger
backup at random times. After every kill:

* the temporary file of an interrupted save is never listed as an object;
* the lock the dead process left is recognised as stale and removed;
* ``check(read_data=True)`` finds no error (packs no index lists are only warnings);
* every snapshot in the repository restores byte-identical to the tree it was taken of;
* a new backup completes, adds only what the killed one had not stored durably (assertions on
  ``data_added``), restores byte-identical, and leaves nothing for check to warn about.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from resguardo.backends.local import TEMPORARY_PREFIX, LocalStorage
from resguardo.engine.archiver import BackupOptions, backup
from resguardo.engine.checker import CheckReport, check
from resguardo.engine.chunker import ChunkerParameters
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.locks import list_locks, remove_stale_locks
from resguardo.engine.repository import DATA_PREFIX, Repository, pack_id_from_name
from resguardo.engine.restorer import restore
from resguardo.engine.snapshot import Snapshot, list_snapshots

from .crash_helper import MODES, PASSPHRASE

ROOT = Path(__file__).resolve().parents[2]
HOSTNAME = "crash-test-host"
MiB = 1024 * 1024
SMALL_CHUNKS = ChunkerParameters(min_size=1024, average_size=4096, max_size=16384)
FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
DATA_SAVES_KILLED_AT = (1, 2, 3, 4, 5)
KILL_POINTS = [
    f"{mode}:{kind}:{number}"
    for kind, numbers in (("data", DATA_SAVES_KILLED_AT), ("index", (1,)), ("snapshots", (1,)))
    for number in numbers
    for mode in MODES
]
RANDOM_KILL_FRACTIONS = (0.5, 0.7, 0.85)
CHILD_TIMEOUT = 60

Manifest = dict[str, tuple[str, int, str]]


# -- the source trees --------------------------------------------------------------------------


def make_state_a(root: Path, generator: random.Random) -> None:
    """About 3 MiB in nested directories: random and text files, empty ones, a symlink."""
    for number in range(24):
        directory = root / f"dir{number % 4}" / (f"sub{number % 3}" if number % 2 else "")
        directory.mkdir(parents=True, exist_ok=True)
        size = generator.randrange(0, 250_000)
        if number % 3 == 0:
            content = (f"line {number} of a text file\n" * (size // 24 + 1)).encode()[:size]
        else:
            content = generator.randbytes(size)
        (directory / f"file{number}.bin").write_bytes(content)
    (root / "dir0" / "empty").write_bytes(b"")
    (root / "empty-dir").mkdir()
    (root / "dir1" / "link").symlink_to("../dir0/file0.bin")
    (root / "tiny.txt").write_bytes(b"x" * 100)


def make_state_b(root: Path, generator: random.Random) -> None:
    """From A: about 7 MiB of new random content, two edited files, one removed, one new small file."""
    new = root / "new"
    new.mkdir()
    for number in range(12):
        (new / f"big{number}.bin").write_bytes(generator.randbytes(generator.randrange(400_000, 800_000)))
    edited = root / "dir0" / "file4.bin"
    data = edited.read_bytes()
    edited.write_bytes(data[: len(data) // 2] + b"an insertion" + data[len(data) // 2 :])
    (root / "dir0" / "file0.bin").write_bytes((root / "dir0" / "file0.bin").read_bytes() + b"appended\n")
    (root / "dir2" / "file2.bin").unlink()
    (root / "dir3" / "notes.txt").write_bytes(b"a new small file\n")


def manifest(root: Path) -> Manifest:
    """Return {path relative to root: (type, permission bits, sha256 of the content or the link target)}."""
    found: Manifest = {}
    for directory, directories, files in os.walk(root):
        for name in directories + files:
            path = Path(directory) / name
            relative = str(path.relative_to(root))
            status = path.lstat()
            if stat.S_ISLNK(status.st_mode):
                found[relative] = ("symlink", 0, os.readlink(path))
            elif stat.S_ISDIR(status.st_mode):
                found[relative] = ("dir", stat.S_IMODE(status.st_mode), "")
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[relative] = ("file", stat.S_IMODE(status.st_mode), digest)
    return found


def restored_manifests(
    repository: Repository, snapshot: Snapshot, roots: list[Path], target: Path
) -> list[Manifest]:
    """Restore the snapshot into ``target`` and return the manifest of each root as restored there."""
    result = restore(repository, snapshot, str(target))
    assert result.complete, (result.errors, result.damaged)
    manifests = [manifest(target / root.relative_to("/")) for root in roots]
    shutil.rmtree(target)
    return manifests


# -- the prepared world ------------------------------------------------------------------------


@dataclass
class World:
    """What every case starts from."""

    base: Path
    source: Path
    bulk: Path
    template: Path
    template_cache: Path
    snapshot_a: str
    manifest_a: Manifest
    manifest_b: Manifest
    manifest_bulk: Manifest
    baseline: dict[str, object] = field(default_factory=dict)
    larger_baseline: dict[str, object] = field(default_factory=dict)
    larger_run_seconds: float = 0.0

    def expected(self, snapshot: Snapshot) -> dict[Path, Manifest]:
        """Return, for each backed-up root of a snapshot, the manifest it must restore to."""
        if snapshot.id == self.snapshot_a:
            return {self.source: self.manifest_a}
        if snapshot.paths == [str(self.source)]:
            return {self.source: self.manifest_b}
        assert sorted(snapshot.paths) == sorted([str(self.source), str(self.bulk)]), snapshot.paths
        return {self.source: self.manifest_b, self.bulk: self.manifest_bulk}


def child_command(repository: Path, counter: Path, kill: str, cache: Path, paths: list[Path]) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from tests.engine.crash_helper import main; raise SystemExit(main())",
        "--repository",
        str(repository),
        "--counter",
        str(counter),
        "--kill",
        kill,
        "--cache-dir",
        str(cache),
        "--hostname",
        HOSTNAME,
        *[str(path) for path in paths],
    ]


def child_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src")])
    return environment


def run_child(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=ROOT,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        start_new_session=True,
        check=False,
    )


def run_announced(command: list[str], kill_after: float | None) -> tuple[int, float, str]:
    """Run the child with ``--announce``; kill its group ``kill_after`` seconds after it is ready.

    Returns:
        (exit status, seconds from ready to the end, standard output after ``ready``).
    """
    command = [*command]
    command.insert(command.index("--kill"), "--announce")
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env=child_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
            started = time.monotonic()
            if kill_after is not None:
                time.sleep(kill_after)
                os.killpg(process.pid, signal.SIGKILL)
            output = process.stdout.read()
            process.wait(timeout=CHILD_TIMEOUT)
            return process.returncode, time.monotonic() - started, output
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def open_repository(path: Path) -> Repository:
    return Repository.open(LocalStorage(path, durable=False), PASSPHRASE)


def copy_case(world: World, directory: Path) -> tuple[Path, Path]:
    repository = directory / "repository"
    cache = directory / "cache"
    shutil.copytree(world.template, repository, symlinks=True)
    shutil.copytree(world.template_cache, cache, symlinks=True)
    return repository, cache


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("crash")
    generator = random.Random(20261123)
    source = base / "source"
    make_state_a(source, generator)
    template = base / "template"
    template_cache = base / "template-cache"
    template_cache.mkdir()
    Repository.create(LocalStorage(template), PASSPHRASE, chunker=SMALL_CHUNKS, pack_size=MiB, kdf=FAST_KDF)
    first = backup(
        open_repository(template),
        [str(source)],
        BackupOptions(hostname=HOSTNAME, cache_dir=str(template_cache)),
    )
    manifest_a = manifest(source)
    time.sleep(0.01)  # edits get a later ctime than the first backup saw
    make_state_b(source, generator)
    bulk = base / "bulk"
    bulk.mkdir()
    for number in range(8):
        (bulk / f"part{number}.bin").write_bytes(generator.randbytes(2 * MiB))
    built = World(
        base=base,
        source=source,
        bulk=bulk,
        template=template,
        template_cache=template_cache,
        snapshot_a=first.snapshot.id,
        manifest_a=manifest_a,
        manifest_b=manifest(source),
        manifest_bulk=manifest(bulk),
    )
    # One uninterrupted run of each backup: what a crash-free backup adds, and how long the larger takes.
    repository, cache = copy_case(built, base / "baseline")
    finished = run_child(child_command(repository, base / "baseline" / "counter", "none", cache, [source]))
    assert finished.returncode == 0, finished.stderr
    built.baseline = json.loads(finished.stdout.splitlines()[-1])
    repository, cache = copy_case(built, base / "larger")
    command = child_command(repository, base / "larger" / "counter", "none", cache, [source, bulk])
    returncode, built.larger_run_seconds, output = run_announced(command, kill_after=None)
    assert returncode == 0
    built.larger_baseline = json.loads(output.splitlines()[-1])
    return built


# -- checking what a kill left -----------------------------------------------------------------


def temporary_files(repository: Path) -> list[Path]:
    return [path for path in repository.rglob("*") if path.name.startswith(TEMPORARY_PREFIX)]


def unique_blob_bytes(repository: Repository, pack_names: set[str]) -> int:
    """Return the stored bytes of the distinct blobs in the given packs (read from their headers)."""
    sizes: dict[bytes, int] = {}
    for name in pack_names:
        pack_id = pack_id_from_name(name)
        assert pack_id is not None
        for entry in repository.load_pack_entries(pack_id):
            sizes[entry.id] = entry.length
    return sum(sizes.values())


def assert_healthy(report: CheckReport) -> None:
    assert report.ok, [f"{problem.kind} {problem.name}: {problem.message}" for problem in report.errors]
    assert report.read_data
    for warning in report.warnings:
        assert warning.kind == "pack" and "unreferenced" in warning.message, warning


def assert_restores_identical(world: World, repository: Repository, snapshot: Snapshot, target: Path) -> None:
    expected = world.expected(snapshot)
    restored = restored_manifests(repository, snapshot, list(expected), target)
    assert restored == list(expected.values()), f"snapshot {snapshot.short_id} does not restore identical"


def assert_snapshots_restore(world: World, repository: Repository, target: Path) -> list[Snapshot]:
    snapshots = list_snapshots(repository, skip_damaged=False)
    assert world.snapshot_a in [snapshot.id for snapshot in snapshots]
    for snapshot in snapshots:
        assert_restores_identical(world, repository, snapshot, target / snapshot.short_id)
    return snapshots


def verify_after_kill(
    world: World, repository_path: Path, cache: Path, paths: list[Path], *, killed_while_locked: bool = True
) -> dict[str, int]:
    """Run every check that must hold after a kill; return numbers for the caller's own assertions."""
    template_packs = {stored.name for stored in LocalStorage(world.template).list(DATA_PREFIX)}
    storage = LocalStorage(repository_path, durable=False)
    listed = {stored.name for stored in storage.list("")}
    on_disk = {
        str(path.relative_to(repository_path)) for path in repository_path.rglob("*") if path.is_file()
    }
    leftovers = {str(path.relative_to(repository_path)) for path in temporary_files(repository_path)}
    assert listed == on_disk - leftovers
    assert not any(name.rsplit("/", 1)[-1].startswith(TEMPORARY_PREFIX) for name in listed)

    repository = open_repository(repository_path)
    abandoned = list_locks(repository)
    if killed_while_locked:
        assert len(abandoned) == 1 and not abandoned[0].exclusive
    assert [lock.id for lock in remove_stale_locks(repository)] == [lock.id for lock in abandoned]

    report = check(repository, read_data=True)
    assert_healthy(report)
    snapshots_before = assert_snapshots_restore(world, repository, repository_path.parent / "restored")

    new_packs = {stored.name for stored in storage.list(DATA_PREFIX)} - template_packs
    stored_by_killed = unique_blob_bytes(repository, new_packs)
    recovery = backup(
        repository, [str(path) for path in paths], BackupOptions(hostname=HOSTNAME, cache_dir=str(cache))
    )
    assert not recovery.partial

    reopened = open_repository(repository_path)
    final = check(reopened, read_data=True)
    assert final.ok and final.warnings == [], final.warnings  # the adopted packs are indexed now
    assert_restores_identical(
        world, reopened, recovery.snapshot, repository_path.parent / "restored-recovery"
    )
    assert list_locks(reopened) == []
    return {
        "leftovers": len(leftovers),
        "new_packs": len(new_packs),
        "stored_by_killed": stored_by_killed,
        "recovery_added": int(recovery.snapshot.summary["data_added"]),
        "snapshots_before": len(snapshots_before),
        "unreferenced_warnings": len(report.warnings),
    }


# -- the cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kill", KILL_POINTS)
def test_a_backup_killed_at_a_save_leaves_a_healthy_repository(
    world: World, tmp_path: Path, kill: str
) -> None:
    mode, kind, _number = kill.split(":")
    saves = world.baseline["saves"]
    assert isinstance(saves, dict)
    assert saves["data"] > max(DATA_SAVES_KILLED_AT), f"too few pack saves to kill at: {saves}"
    assert saves["index"] == 1 and saves["snapshots"] == 1, saves
    repository, cache = copy_case(world, tmp_path)
    killed = run_child(child_command(repository, tmp_path / "counter", kill, cache, [world.source]))
    assert killed.returncode == -signal.SIGKILL, f"the child was not killed at {kill}: {killed.stderr}"

    outcome = verify_after_kill(world, repository, cache, [world.source])

    summary = world.baseline["summary"]
    assert isinstance(summary, dict)
    crash_free_added = int(summary["data_added"])
    assert crash_free_added > 6 * MiB  # state B brings about 7 MiB of new content
    if mode == "torn":
        # The half-written temporary file (and any other save in flight at that moment), never listed.
        assert outcome["leftovers"] >= 1
    # What the killed backup stored durably is not stored again.
    assert outcome["recovery_added"] <= crash_free_added - outcome["stored_by_killed"] + 64 * 1024
    # Packs are saved by several processes at once, so only a kill after a save, or at the index or the
    # snapshot (written once every pack is), is sure to follow a complete pack.
    if mode == "after" or kind != "data":
        assert outcome["new_packs"] >= 1
        assert outcome["stored_by_killed"] > 500 * 1024
        assert outcome["recovery_added"] < crash_free_added - 500 * 1024
    if kind == "data" or (kind == "index" and mode != "after"):
        assert outcome["unreferenced_warnings"] == outcome["new_packs"]  # no index lists them yet
    else:
        assert outcome["unreferenced_warnings"] == 0
    if kind == "snapshots" and mode == "after":
        assert outcome["snapshots_before"] == 2  # the killed backup's snapshot is complete, and restores
        assert outcome["recovery_added"] < 64 * 1024
    elif kind == "snapshots" or (kind == "index" and mode == "after"):
        assert outcome["snapshots_before"] == 1
        assert outcome["recovery_added"] < 64 * 1024  # every pack was indexed: only trees may differ
    else:
        assert outcome["snapshots_before"] == 1


@pytest.mark.parametrize("fraction", RANDOM_KILL_FRACTIONS)
def test_a_larger_backup_killed_at_a_random_time_leaves_a_healthy_repository(
    world: World, tmp_path: Path, fraction: float
) -> None:
    paths = [world.source, world.bulk]
    delay = world.larger_run_seconds * fraction * random.Random(fraction).uniform(0.9, 1.05)
    for attempt in range(4):  # timings vary: when the backup finished first, try again, sooner
        case = tmp_path / f"attempt{attempt}"
        repository, cache = copy_case(world, case)
        command = child_command(repository, case / "counter", "none", cache, paths)
        returncode, _seconds, _output = run_announced(command, kill_after=delay)
        if returncode == -signal.SIGKILL:
            break
        assert returncode == 0
        delay /= 2
    else:
        pytest.fail(f"the backup always ended before it was killed (last delay {delay:.2f}s)")
    # A late kill may land after the backup released its lock, while the process was ending.
    outcome = verify_after_kill(world, repository, cache, paths, killed_while_locked=False)
    summary = world.larger_baseline["summary"]
    assert isinstance(summary, dict)
    assert outcome["recovery_added"] <= int(summary["data_added"]) - outcome["stored_by_killed"] + 64 * 1024


def test_a_backup_killed_twice_in_a_row_still_recovers(world: World, tmp_path: Path) -> None:
    repository, cache = copy_case(world, tmp_path)
    first = run_child(child_command(repository, tmp_path / "counter1", "torn:data:3", cache, [world.source]))
    assert first.returncode == -signal.SIGKILL, first.stderr
    second = run_child(
        child_command(repository, tmp_path / "counter2", "before:index:1", cache, [world.source])
    )
    assert second.returncode == -signal.SIGKILL, second.stderr
    survivor = open_repository(repository)
    assert len(remove_stale_locks(survivor)) == 2
    assert_healthy(check(survivor, read_data=True))
    assert_snapshots_restore(world, survivor, tmp_path / "restored")
    recovery = backup(survivor, [str(world.source)], BackupOptions(hostname=HOSTNAME, cache_dir=str(cache)))
    assert_restores_identical(world, survivor, recovery.snapshot, tmp_path / "restored-recovery")
    # The second run adopted the first one's packs and stored every pack before it was killed.
    assert recovery.snapshot.summary["data_added"] < 64 * 1024
    final = check(open_repository(repository), read_data=True)
    assert final.ok and final.warnings == []


def test_an_interrupted_save_is_invisible_and_adopting_ignores_it(world: World, tmp_path: Path) -> None:
    """The torn temporary file of a pack is neither listed, nor adopted, nor reported by check."""
    repository, cache = copy_case(world, tmp_path)
    killed = run_child(child_command(repository, tmp_path / "counter", "torn:data:1", cache, [world.source]))
    assert killed.returncode == -signal.SIGKILL
    # The torn pack is one; the other worker process may have been writing a pack of its own too.
    leftovers = temporary_files(repository)
    assert leftovers
    assert all(leftover.parent.parent.name == "data" for leftover in leftovers)
    opened = open_repository(repository)
    assert opened.adopt_unindexed_packs() == []
    names = {stored.name for stored in opened.storage.list("")}
    report = check(opened, read_data=True)
    assert report.ok
    for leftover in leftovers:
        assert not any(leftover.name in name for name in names)
        assert not any(leftover.name in problem.name for problem in report.warnings + report.errors)
