"""Tests of copy: snapshots go from one repository to another with other keys, and only once.

Real repositories in ``tmp_path`` (local directories), real backups of real trees; the copies are
restored and compared with restores from the source, and the destination is checked with
``read_data``. The interrupted copy runs in a child process that SIGKILLs itself midway.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from resguardo.backends import LocalStorage, Storage
from resguardo.core.errors import IntegrityError, UsageError
from resguardo.engine.archiver import BackupOptions, backup
from resguardo.engine.checker import check
from resguardo.engine.chunker import ChunkerParameters
from resguardo.engine.copier import CopyResult, copy_snapshots, plan_copy
from resguardo.engine.copymap import RECORD_SIZE, TranslationMap, translation_file_path
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.events import Event, Progress
from resguardo.engine.repository import DATA_PREFIX, Repository
from resguardo.engine.restorer import restore
from resguardo.engine.snapshot import Snapshot, list_snapshots
from tests.engine.copy_crash_helper import DESTINATION_PASSPHRASE, SOURCE_PASSPHRASE
from tests.engine.test_restorer import assert_same_tree, build_varied_tree, inside

FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
SMALL_CHUNKS = ChunkerParameters(min_size=4096, average_size=16384, max_size=65536)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def create(path: Path, passphrase: bytes, pack_size: int = 1024 * 1024) -> Repository:
    return Repository.create(
        LocalStorage(path, durable=False), passphrase, chunker=SMALL_CHUNKS, kdf=FAST_KDF, pack_size=pack_size
    )


def reopen(repository: Repository, passphrase: bytes) -> Repository:
    """Open the repository again from its storage, as a new process would."""
    return Repository.open(repository.storage, passphrase)


def back_up(
    repository: Repository, path: Path, *, tags: tuple[str, ...] = (), host: str = "host-a"
) -> Snapshot:
    result = backup(repository, [str(path)], BackupOptions(hostname=host, tags=tags, processes=False))
    assert not result.unreadable
    return result.snapshot


def write_random(path: Path, size: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))


def build_files(root: Path, count: int, size: int, first_seed: int = 0) -> None:
    """Many files of random content in a few folders."""
    for number in range(count):
        write_random(root / f"folder-{number % 4}" / f"file-{number}", size, seed=first_seed + number)


def copy_all(source: Repository, destination: Repository, cache_dir: Path | None = None) -> CopyResult:
    return copy_snapshots(
        source,
        destination,
        list_snapshots(source),
        cache_dir=None if cache_dir is None else str(cache_dir),
        workers=2,
    )


def stored_names(storage: Storage) -> set[str]:
    return {stored.name for stored in storage.list("") if not stored.name.startswith("locks/")}


def assert_restores_match(source: Repository, destination: Repository, tmp_path: Path) -> None:
    """Every copy in the destination restores exactly as its original does from the source."""
    source = reopen(source, SOURCE_PASSPHRASE)
    destination = reopen(destination, DESTINATION_PASSPHRASE)
    originals = {snapshot.id: snapshot for snapshot in list_snapshots(source)}
    for copy in list_snapshots(destination):
        assert copy.copied_from is not None
        original = originals[copy.copied_from.snapshot]
        from_source, from_copy = tmp_path / f"from-source-{copy.id}", tmp_path / f"from-copy-{copy.id}"
        assert restore(source, original, str(from_source)).complete
        assert restore(destination, copy, str(from_copy)).complete
        for path in original.paths:
            assert_same_tree(inside(from_source, Path(path)), inside(from_copy, Path(path)))


@pytest.fixture
def source_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    build_varied_tree(root)
    build_files(root / "data", 12, 40_000)
    return root


def test_two_snapshots_copied_between_repositories_with_other_keys_restore_identical(
    tmp_path: Path, source_tree: Path
) -> None:
    source = create(tmp_path / "a", SOURCE_PASSPHRASE)
    destination = create(tmp_path / "b", DESTINATION_PASSPHRASE)
    first = back_up(source, source_tree, tags=("daily",))
    write_random(source_tree / "data" / "folder-1" / "new-file", 70_000, seed=99)
    second = back_up(source, source_tree)

    result = copy_all(source, destination)

    assert [original.id for original, _copy in result.copied] == [first.id, second.id]
    assert result.skipped == []
    copies = list_snapshots(reopen(destination, DESTINATION_PASSPHRASE))
    assert len(copies) == 2
    for original, copy in zip([first, second], copies, strict=True):
        assert (copy.time, copy.hostname, copy.paths, copy.tags) == (
            original.time,
            original.hostname,
            original.paths,
            original.tags,
        )
        assert copy.copied_from is not None
        assert (copy.copied_from.repository, copy.copied_from.snapshot) == (source.config.id, original.id)
        assert copy.tree != original.tree  # rewritten with the destination's blob IDs
    assert copies[1].parent == copies[0].id
    restored = tmp_path / "restored"
    assert restore(destination, copies[1], str(restored)).complete
    assert_same_tree(source_tree, inside(restored, source_tree))
    assert_restores_match(source, destination, tmp_path)
    report = check(reopen(destination, DESTINATION_PASSPHRASE), read_data=True)
    assert report.ok, report.errors
    assert not report.warnings, report.warnings


def test_a_second_run_copies_nothing_reads_nothing_and_adds_nothing(
    tmp_path: Path, source_tree: Path
) -> None:
    source = create(tmp_path / "a", SOURCE_PASSPHRASE)
    destination = create(tmp_path / "b", DESTINATION_PASSPHRASE)
    back_up(source, source_tree)
    back_up(source, source_tree, tags=("again",))
    copy_all(source, destination)
    names_before = stored_names(destination.storage)

    again = copy_all(reopen(source, SOURCE_PASSPHRASE), reopen(destination, DESTINATION_PASSPHRASE))

    assert again.copied == []
    assert len(again.skipped) == 2
    assert (again.bytes_added, again.bytes_read, again.blobs_read) == (0, 0, 0)
    assert stored_names(destination.storage) == names_before


def test_after_a_new_backup_only_the_changed_data_is_read_and_added(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    build_files(tree, 40, 50_000)  # 2 MB in 4 folders
    source = create(tmp_path / "a", SOURCE_PASSPHRASE)
    destination = create(tmp_path / "b", DESTINATION_PASSPHRASE)
    back_up(source, tree)
    first = copy_all(source, destination)
    assert first.bytes_added > 2_000_000
    write_random(tree / "folder-2" / "file-2", 50_000, seed=1234)  # one file rewritten
    write_random(tree / "folder-3" / "added", 60_000, seed=4321)  # one file added
    back_up(source, tree)

    second = copy_all(reopen(source, SOURCE_PASSPHRASE), reopen(destination, DESTINATION_PASSPHRASE))

    changed = 110_000
    assert len(second.copied) == 1
    assert changed <= second.bytes_added < changed + 40_000  # the new content, and a few trees
    assert second.bytes_read < changed + 60_000  # not the 2 MB of unchanged files
    assert second.files == 21  # two folders of ten and one file were rewritten; two folders were not visited
    assert_restores_match(source, destination, tmp_path)


def test_a_snapshot_of_an_unchanged_tree_reads_and_adds_nothing(tmp_path: Path, source_tree: Path) -> None:
    source = create(tmp_path / "a", SOURCE_PASSPHRASE)
    destination = create(tmp_path / "b", DESTINATION_PASSPHRASE)
    back_up(source, source_tree)
    copy_all(source, destination)
    back_up(source, source_tree, tags=("unchanged",))

    result = copy_all(reopen(source, SOURCE_PASSPHRASE), reopen(destination, DESTINATION_PASSPHRASE))

    assert len(result.copied) == 1
    assert (result.bytes_read, result.bytes_added, result.files) == (0, 0, 0)
    assert result.copied[0][1].tree == list_snapshots(destination)[0].tree


def test_content_already_sent_is_found_through_the_translation_map(tmp_path: Path) -> None:
    """A file moved elsewhere is not read again: the map knows where its content went."""
    tree = tmp_path / "tree"
    build_files(tree, 8, 50_000)
    source = create(tmp_path / "a", SOURCE_PASSPHRASE)
    destination = create(tmp_path / "b", DESTINATION_PASSPHRASE)
    cache = tmp_path / "cache"
    back_up(source, tree)
    copy_all(source, destination, cache)
    map_file = Path(translation_file_path(str(cache), destination.config.id, source.config.id))
    assert map_file.stat().st_size % RECORD_SIZE == 0 and map_file.stat().st_size > 0
    (tree / "folder-0").rename(tree / "renamed")
    back_up(source, tree)

    result = copy_all(reopen(source, SOURCE_PASSPHRASE), reopen(destination, DESTINATION_PASSPHRASE), cache)

    assert result.blobs_read == 0
    assert result.bytes_added < 10_000  # trees only
    assert result.bytes_read < 20_000  # trees only, not the 100 KB moved
    assert_restores_match(source, destination, tmp_path)


def run_copy_until_killed(source: Path, destination: Path, cache: Path, kill_after_packs: int) -> int:
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tests.engine.copy_crash_helper import main; raise SystemExit(main())",
            str(source),
            str(destination),
            str(cache),
            str(kill_after_packs),
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src") + os.pathsep + str(PROJECT_ROOT)},
        capture_output=True,
        timeout=120,
        check=False,
    )
    return completed.returncode


@pytest.mark.slow
@pytest.mark.parametrize("keep_map", [True, False], ids=["with-translation-map", "without-translation-map"])
def test_a_copy_killed_midway_resumes_without_sending_again(tmp_path: Path, keep_map: bool) -> None:
    tree = tmp_path / "tree"
    build_files(tree, 64, 100_000)  # 6.4 MB: about 6 packs of 1 MiB
    source = create(tmp_path / "a", SOURCE_PASSPHRASE)
    destination = create(tmp_path / "b", DESTINATION_PASSPHRASE)
    back_up(source, tree)
    build_files(tree / "more", 8, 100_000, first_seed=1000)
    back_up(source, tree)
    cache = tmp_path / "cache"

    code = run_copy_until_killed(tmp_path / "a", tmp_path / "b", cache, kill_after_packs=4)

    assert code == -9
    sent = sum(stored.size for stored in destination.storage.list(DATA_PREFIX))
    assert sent > 3_500_000
    assert list_snapshots(destination) == []  # killed before the first snapshot was complete
    if not keep_map:
        for leftover in cache.rglob("copy-from-*"):
            leftover.unlink()
    source = reopen(source, SOURCE_PASSPHRASE)
    destination = reopen(destination, DESTINATION_PASSPHRASE)

    result = copy_all(source, destination, cache)

    assert len(result.copied) == 2
    total = 7_200_000
    assert result.bytes_added < total - sent + 100_000  # what the killed run had not sent yet, and trees
    if keep_map:
        # Read again: the packs being written when it died, and the gaps between wanted blobs in a run.
        assert result.bytes_read < total - sent + 2_500_000
    else:
        # Without the map, the first snapshot's 6.4 MB are read again (though not sent again).
        assert result.bytes_read > 6_200_000
    report = check(reopen(destination, DESTINATION_PASSPHRASE), read_data=True)
    assert report.ok, report.errors
    assert_restores_match(source, destination, tmp_path)


def test_only_the_snapshots_asked_for_are_copied_and_planned(tmp_path: Path, source_tree: Path) -> None:
    source = create(tmp_path / "a", SOURCE_PASSPHRASE)
    destination = create(tmp_path / "b", DESTINATION_PASSPHRASE)
    first = back_up(source, source_tree)
    second = back_up(source, source_tree, host="host-b")

    result = copy_snapshots(source, destination, [second], workers=2)

    assert [original.id for original, _copy in result.copied] == [second.id]
    plan = plan_copy(source, destination, [first, second])
    assert [snapshot.id for snapshot in plan.to_copy] == [first.id]
    assert [(snapshot.id, copy_id) for snapshot, copy_id in plan.already_copied] == [
        (second.id, result.copied[0][1].id)
    ]


def test_progress_reports_files_and_bytes_against_the_snapshots_totals(
    tmp_path: Path, source_tree: Path
) -> None:
    source = create(tmp_path / "a", SOURCE_PASSPHRASE)
    destination = create(tmp_path / "b", DESTINATION_PASSPHRASE)
    snapshot = back_up(source, source_tree)
    events: list[Event] = []

    copy_snapshots(source, destination, [snapshot], workers=2, reporter=events.append)

    progress = [event for event in events if isinstance(event, Progress)]
    assert progress and progress[-1].operation == "copy"
    assert progress[-1].files_done == progress[-1].files_total == snapshot.summary["total_files_processed"]
    assert progress[-1].bytes_done == progress[-1].bytes_total == snapshot.summary["total_bytes_processed"]


def test_copying_a_repository_into_itself_is_refused(tmp_path: Path, source_tree: Path) -> None:
    source = create(tmp_path / "a", SOURCE_PASSPHRASE)
    back_up(source, source_tree)
    same = reopen(source, SOURCE_PASSPHRASE)

    with pytest.raises(UsageError, match="same repository"):
        copy_all(source, same)
    assert len(list_snapshots(source)) == 1


def test_damaged_source_content_stops_the_copy_with_a_clear_error_and_keeps_earlier_copies(
    tmp_path: Path, source_tree: Path
) -> None:
    source = create(tmp_path / "a", SOURCE_PASSPHRASE)
    destination = create(tmp_path / "b", DESTINATION_PASSPHRASE)
    first = back_up(source, source_tree)
    copy_snapshots(source, destination, [first], workers=2)
    write_random(source_tree / "data" / "late-file", 30_000, seed=7)
    second = back_up(source, source_tree)
    new_packs = {stored.name for stored in source.storage.list(DATA_PREFIX)}
    for name in sorted(new_packs):  # damage every data pack: the late file's content is in one of them
        path = tmp_path / "a" / name
        data = bytearray(path.read_bytes())
        data[40] ^= 0xFF
        path.write_bytes(bytes(data))

    with pytest.raises(IntegrityError, match="cannot copy /") as caught:
        copy_snapshots(reopen(source, SOURCE_PASSPHRASE), destination, [second], workers=2)

    assert "check --read-data" in (caught.value.hint or "")
    assert [copy.copied_from.snapshot for copy in list_snapshots(destination) if copy.copied_from] == [
        first.id
    ]


def test_translation_records_that_are_torn_or_forged_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "map.bin"
    secret = bytes(range(64))
    first = TranslationMap(str(path), secret, "source-id")
    first.add(b"a" * 32, b"b" * 32)
    first.add(b"c" * 32, b"d" * 32)
    assert first.save_durable(lambda _blob: True) == 2
    with open(path, "ab") as stream:
        stream.write(b"e" * 32 + b"f" * 32 + b"\0" * 16)  # a forged record
        stream.write(b"torn")

    again = TranslationMap(str(path), secret, "source-id")
    other_source = TranslationMap(str(path), secret, "another-source-id")

    assert again.get(b"a" * 32) == b"b" * 32 and again.get(b"c" * 32) == b"d" * 32
    assert again.get(b"e" * 32) is None
    assert path.stat().st_size == 3 * RECORD_SIZE  # the torn record was cut off
    assert len(other_source) == 0
