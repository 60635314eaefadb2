"""Checking a repository: is every object present, intact and consistent, and what does damage affect?

This package's entry point is :func:`check`, which runs the structure check (always), the data check
(with ``read_data`` or a ``subset`` of the packs) and the walk of every snapshot's trees, then maps
each damaged object to the snapshot paths it affects; the parts live in :mod:`.report`,
:mod:`.subsets`, :mod:`.packs`, :mod:`.run_state`, :mod:`.structure_check`, :mod:`.data_check` and
:mod:`.trees`; :func:`verify_written` (in :mod:`.written`) verifies only what one backup
just wrote. Nothing stops the check short: a damaged index file, snapshot or key slot is recorded
and the check goes on with what remains.
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

from resguardo.core.errors import ConfigurationError
from resguardo.engine.checker.report import AffectedPath, CheckCounts, CheckProblem, CheckReport
from resguardo.engine.checker.structure_check import StructureCheck
from resguardo.engine.checker.subsets import PackSubset, parse_subset
from resguardo.engine.checker.trees import TreeWalk
from resguardo.engine.checker.written import verify_written
from resguardo.engine.events import Reporter, ignore_events
from resguardo.engine.repository import Repository

_KIND_ORDER = {
    kind: rank for rank, kind in enumerate(("config", "key", "index", "pack", "blob", "tree", "snapshot"))
}


class _Checker(StructureCheck, TreeWalk):
    """One run of :func:`check`; not reusable."""


def check(
    repository: Repository,
    *,
    read_data: bool = False,
    subset: str | None = None,
    packs: Collection[bytes] | None = None,
    reporter: Reporter = ignore_events,
    workers: int = 2,
    processes: bool | None = None,
) -> CheckReport:
    """Check the repository's structure and, when asked, the data in its packs.

    Args:
        repository: an open repository (its own loaded index is not trusted: index files are read again).
        read_data: read every pack whole and verify every blob in it.
        subset: read only some packs: ``"N%"`` (a random N percent) or ``"n/t"`` (group n of t, chosen by
            pack ID, so that 1/t .. t/t cover every pack once); implies ``read_data``.
        packs: read exactly these packs (IDs), those of them still stored; implies ``read_data``. A
            rotating scrub passes the slice it reads this time. Not together with ``subset``.
        reporter: receives Progress("check", ...) events and one ItemWarning per problem.
        workers: threads (or processes) that read and verify packs.
        processes: verify packs in worker processes (True), threads (False), or choose by the amount of
            data (None); processes need storage that they can open themselves, such as a local directory.

    Returns:
        the report: errors, warnings, counts, and the snapshot paths every damaged object affects.

    Raises:
        ConfigurationError: ``subset`` is malformed, given with ``packs``, or ``workers`` is less than 1.
        StorageError: storage could not even be listed.
    """
    chosen = parse_subset(subset) if subset is not None else None
    if chosen is not None and packs is not None:
        raise ConfigurationError("give either a subset of packs or a list of packs, not both")
    if workers < 1:
        raise ConfigurationError(f"workers must be at least 1, not {workers}")
    started = repository.clock.monotonic()
    checker = _Checker(repository, reporter, workers)
    report = checker.report
    report.read_data = read_data or chosen is not None or packs is not None
    report.subset = subset
    checker.progress("structure", 0, force=True)
    checker.check_config()
    checker.check_keys()
    checker.check_index()
    checker.check_pack_listing()
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check") as executor,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check-trees") as tree_loader,
    ):
        try:
            if report.read_data:
                pack_ids = sorted(checker.stored_sizes)
                if packs is not None:
                    wanted = set(packs)
                    pack_ids = [pack_id for pack_id in pack_ids if pack_id in wanted]
                elif chosen is not None:
                    pack_ids = chosen.select(pack_ids)
                checker.start_data(executor, pack_ids, processes)
                if checker.process_pool is None:
                    # Threads verifying packs and a tree walk would only queue for the interpreter lock.
                    checker.drain(block=True)
            checker.check_snapshots()
            checker.walk_trees(None if repository.storage.is_local else tree_loader)
            checker.drain(block=True)
        finally:
            checker.cancel_pending()
    if checker.rescan_needed:
        checker.rescan_trees()
    checker.map_affected()
    for problems in (report.errors, report.warnings):
        problems.sort(key=lambda problem: (_KIND_ORDER.get(problem.kind, len(_KIND_ORDER)), problem.name))
    report.seconds = round(repository.clock.monotonic() - started, 3)
    checker.progress("done", checker.counts.packs_read, force=True)
    return report


__all__ = [
    "AffectedPath",
    "CheckCounts",
    "CheckProblem",
    "CheckReport",
    "PackSubset",
    "check",
    "parse_subset",
    "verify_written",
]
