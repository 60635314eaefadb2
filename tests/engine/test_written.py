"""verify_written(): the packs a backup uploaded are read back and authenticated, and only those."""

from __future__ import annotations

from pathlib import Path

import pytest

from resguardo.backends import MemoryStorage
from resguardo.backends.faulty import FaultyStorage, InjectedCrash
from resguardo.engine.archiver import backup
from resguardo.engine.checker import verify_written
from resguardo.engine.events import Event, ItemWarning
from resguardo.engine.repository import Repository, pack_name
from tests.engine.test_checker import (
    OPTIONS,
    PASSPHRASE,
    RecordingStorage,
    create_repository,
    make_source,
)


def test_a_backup_records_the_packs_it_wrote_and_they_verify_clean(tmp_path: Path) -> None:
    storage = RecordingStorage()
    repository = create_repository(storage)
    result = backup(repository, [str(make_source(tmp_path / "src"))], OPTIONS)
    written = list(repository.written_packs)
    storage.whole_loads.clear()
    events: list[Event] = []

    problems = verify_written(repository, written, result.snapshot.id, events.append)

    assert written and problems == []
    assert sorted(storage.whole_loads) == sorted(
        [*map(pack_name, written), f"snapshots/{result.snapshot.id}"]
    )
    assert not any(isinstance(event, ItemWarning) for event in events)


def test_a_second_backup_of_the_same_data_verifies_only_its_own_new_packs(tmp_path: Path) -> None:
    source = str(make_source(tmp_path / "src"))
    storage = MemoryStorage()
    backup(create_repository(storage), [source], OPTIONS)
    second = Repository.open(storage, PASSPHRASE)
    backup(second, [source], OPTIONS)

    assert len(second.written_packs) <= 1  # at most the new snapshot's tree pack


@pytest.mark.parametrize("decode", [False, True])
def test_damage_in_a_new_pack_is_named_in_the_problems(tmp_path: Path, decode: bool) -> None:
    damaged: set[str] = set()
    storage = FaultyStorage(MemoryStorage(), corrupt_loads=lambda name: name in damaged)
    repository = create_repository(storage)
    result = backup(repository, [str(make_source(tmp_path / "src"))], OPTIONS)
    victim = pack_name(repository.written_packs[0])
    damaged.add(victim)

    problems = verify_written(repository, repository.written_packs, result.snapshot.id, decode=decode)

    assert problems
    assert any(problem.kind == "pack" and problem.name == victim for problem in problems)


def test_a_damaged_snapshot_document_is_reported(tmp_path: Path) -> None:
    damaged: set[str] = set()
    storage = FaultyStorage(MemoryStorage(), corrupt_loads=lambda name: name in damaged)
    repository = create_repository(storage)
    result = backup(repository, [str(make_source(tmp_path / "src"))], OPTIONS)
    damaged.add(f"snapshots/{result.snapshot.id}")

    problems = verify_written(repository, repository.written_packs, result.snapshot.id)

    assert [problem.kind for problem in problems] == ["snapshot"]


def test_packs_an_interrupted_backup_left_are_verified_by_the_backup_that_adopts_them(tmp_path: Path) -> None:
    source = str(make_source(tmp_path / "src"))
    memory = MemoryStorage()
    create_repository(memory)
    crashing = FaultyStorage(memory, crash_after_saves=3)
    with pytest.raises(InjectedCrash):
        backup(Repository.open(crashing, PASSPHRASE), [source], OPTIONS)
    left = {stored.name for stored in memory.list("data/")}

    second = Repository.open(memory, PASSPHRASE)
    result = backup(second, [source], OPTIONS)

    assert left and left <= set(map(pack_name, second.written_packs))
    assert verify_written(second, second.written_packs, result.snapshot.id) == []
