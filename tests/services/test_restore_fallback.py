"""Before a restore (R23): damaged data in the run's repository makes the restore fail untouched and
offer the same snapshot's intact copy in a second repository; the retry from the copy restores it.

Real parts: two local repositories in the catalog, a backup by a real worker run, the engine's copy
into the second repository, bytes flipped in the first one's packs, restores carried out by a worker.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from resguardo.catalog import RestoreKind, RestoreState, queries
from resguardo.catalog.models import Restore
from resguardo.core.errors import Conflict
from resguardo.engine.snapshot import list_snapshots
from resguardo.services.copies import SnapshotIdentity, find_copies, identity_of
from resguardo.services.repositories import opened_repository
from resguardo.services.restores import RestoreOrder, request_restore, snapshot_locations
from tests.fixtures.restores import backed_up_run, content_packs, copy_repository, damage_packs
from tests.fixtures.service import CREATED, Service, make_tree


def _two_repositories(service: Service, tmp_path: Path) -> tuple[int, int, int, Path]:
    """A job backing up a tree into repository A by a worker run, copied into B; return the run, the
    IDs of A and B, and the tree."""
    tree = make_tree(tmp_path / "tree")
    first = service.repository("first")
    second = service.repository("second")
    run = backed_up_run(service, service.job("files", [tree], repository_id=first, max_retries=0))
    copies = copy_repository(service, first, second)
    assert list(copies) == [run.snapshot_id]
    return run.id, first, second, tree


def _restore_paths(service: Service, run_id: int, tree: Path, folder: Path, **order: object) -> Restore:
    """Ask for a restore of the tree into ``folder``, let a worker carry it out, and return it."""
    paths = RestoreOrder(
        run_id=run_id,
        kind=RestoreKind.PATHS,
        items=[str(tree)],
        folder=str(folder),
        **order,  # type: ignore[arg-type]
    )
    with service.sessions() as session:
        restore = request_restore(session, service.secret_key, paths, CREATED)
        session.commit()
        restore_id = restore.id
    return _carried_out(service, restore_id)


def _carried_out(service: Service, restore_id: int) -> Restore:
    service.worker().run_until_idle()
    with service.sessions() as session:
        return queries.get_restore(session, restore_id)


def _same_tree(original: Path, restored: Path) -> bool:
    comparison = filecmp.dircmp(original, restored)
    files = [path.relative_to(original) for path in original.rglob("*") if path.is_file()]
    _matched, mismatched, errors = filecmp.cmpfiles(
        original, restored, [str(p) for p in files], shallow=False
    )
    return not comparison.left_only and not comparison.right_only and not mismatched and not errors


def test_damaged_data_fails_the_restore_untouched_offers_the_intact_copy_and_the_retry_restores_from_it(
    service: Service, tmp_path: Path
) -> None:
    run_id, first, second, tree = _two_repositories(service, tmp_path)
    assert damage_packs(tmp_path / "repo-first", content_packs(service, first)) > 0
    folder = tmp_path / "restored"

    failed = _restore_paths(service, run_id, tree, folder)

    assert failed.state is RestoreState.FAILED
    assert not folder.exists()
    assert "nothing was restored" in failed.error and "'second'" in failed.error
    copy_id = copy_repository_snapshot(service, second)
    assert failed.alternative == {
        "repository_id": second,
        "repository_name": "second",
        "snapshot_id": copy_id,
    }
    assert "holds the data needed intact" in failed.log

    with service.sessions() as session:
        again = queries.requeue_restore(session, failed.id, CREATED, None, from_copy=True)
        session.commit()
        again_id = again.id
    retried = _carried_out(service, again_id)

    assert retried.state is RestoreState.SUCCEEDED, retried.error
    assert (retried.run_id, retried.repository_id, retried.snapshot_id) == (run_id, second, copy_id)
    assert _same_tree(tree, folder / tree.relative_to("/"))
    assert first != second


def copy_repository_snapshot(service: Service, repository_id: int) -> str:
    """Return the ID of the one snapshot of a repository (its copy of the run's)."""
    with (
        service.sessions() as session,
        opened_repository(session, service.secret_key, repository_id, CREATED) as (repository, _c, _n),
    ):
        [snapshot] = list_snapshots(repository)
        return snapshot.id


def test_when_the_copy_is_damaged_too_no_copy_is_offered_and_the_error_says_so(
    service: Service, tmp_path: Path
) -> None:
    run_id, _first, _second, tree = _two_repositories(service, tmp_path)
    damage_packs(tmp_path / "repo-first", content_packs(service, _first))
    damage_packs(tmp_path / "repo-second", content_packs(service, _second))

    failed = _restore_paths(service, run_id, tree, tmp_path / "restored")

    assert failed.state is RestoreState.FAILED and failed.alternative is None
    assert "the copy of this snapshot in repository 'second' is damaged too" in failed.error
    assert "cannot be restored either" in failed.log
    assert not (tmp_path / "restored").exists()


def test_when_no_other_repository_holds_a_copy_the_error_says_so(service: Service, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    first = service.repository("first")
    service.repository("empty-second")
    run = backed_up_run(service, service.job("files", [tree], repository_id=first, max_retries=0))
    damage_packs(tmp_path / "repo-first", content_packs(service, first))

    failed = _restore_paths(service, run.id, tree, tmp_path / "restored")

    assert failed.state is RestoreState.FAILED and failed.alternative is None
    assert "no other repository of the catalog holds a copy of this snapshot" in failed.error
    with service.sessions() as session, pytest.raises(Conflict, match="offers no copy"):
        queries.requeue_restore(session, failed.id, CREATED, None, from_copy=True)


def test_a_repository_that_cannot_be_opened_is_noted_and_the_search_goes_on(
    service: Service, tmp_path: Path
) -> None:
    run_id, first, second, _tree = _two_repositories(service, tmp_path)
    gone = service.repository("gone")  # never created in its storage, and not created by a search
    with service.sessions() as session:
        run = queries.get_run(session, run_id)
        identity, note = identity_of(session, service.secret_key, first, str(run.snapshot_id), CREATED)
        search = find_copies(session, service.secret_key, first, identity, CREATED)

    assert note == ""
    assert [(copy.repository_id, copy.repository_name) for copy in search.copies] == [(second, "second")]
    assert len(search.notes) == 1 and "'gone'" in search.notes[0]
    assert not (tmp_path / "repo-gone").exists()
    del gone


def test_the_copy_knows_its_origin_so_a_search_from_the_second_repository_finds_the_first(
    service: Service, tmp_path: Path
) -> None:
    run_id, first, second, _tree = _two_repositories(service, tmp_path)
    copy_id = copy_repository_snapshot(service, second)
    with service.sessions() as session:
        run = queries.get_run(session, run_id)
        identity, _note = identity_of(session, service.secret_key, second, copy_id, CREATED)
        search = find_copies(session, service.secret_key, second, identity, CREATED)
        unknown = find_copies(session, service.secret_key, second, SnapshotIdentity("0" * 64, "x"), CREATED)

    assert [(copy.repository_id, copy.snapshot_id) for copy in search.copies] == [(first, run.snapshot_id)]
    assert unknown.copies == []


def test_a_person_sees_where_the_snapshot_is_and_restores_from_the_second_repository_up_front(
    service: Service, tmp_path: Path
) -> None:
    run_id, first, second, tree = _two_repositories(service, tmp_path)
    copy_id = copy_repository_snapshot(service, second)
    with service.sessions() as session:
        locations = snapshot_locations(session, service.secret_key, run_id, CREATED)
    assert [(item["repository_name"], item["copy"]) for item in locations["locations"]] == [
        ("first", False),
        ("second", True),
    ]
    damage_packs(tmp_path / "repo-first")

    restored = _restore_paths(service, run_id, tree, tmp_path / "restored", repository_id=second)

    assert restored.state is RestoreState.SUCCEEDED, restored.error
    assert (restored.repository_id, restored.snapshot_id) == (second, copy_id)
    assert _same_tree(tree, tmp_path / "restored" / tree.relative_to("/"))
    del first
