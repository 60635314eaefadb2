"""The state of one check run, and how it records problems, reports progress and counts bytes read.

This module owns :class:`CheckRun`, the base that the parts of a check (structure, data, trees)
build on: the report being filled in, the index rebuilt from the index files, the damaged objects
found so far, and the helpers every part uses to record an error or warning once, to report
throttled progress, and to load objects while counting the bytes read.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from resguardo.engine.checker.packs import PackOutcome
from resguardo.engine.checker.report import CheckProblem, CheckReport
from resguardo.engine.events import ItemWarning, Progress, ProgressThrottle, Reporter
from resguardo.engine.index import Index
from resguardo.engine.pack import BlobEntry
from resguardo.engine.processes import ChildPool
from resguardo.engine.repository import Repository
from resguardo.engine.snapshot import Snapshot

OPERATION = "check"


class CheckRun:
    """The state of one run of :func:`~resguardo.engine.checker.check` and its helpers; not reusable."""

    def __init__(self, repository: Repository, reporter: Reporter, workers: int) -> None:
        self.repository = repository
        self.storage = repository.storage
        self.keys = repository.keys
        self.reporter = reporter
        self.workers = workers
        self.throttle = ProgressThrottle(reporter, clock=repository.clock)
        self.report = CheckReport()
        self.counts = self.report.counts
        self.seen_problems: set[CheckProblem] = set()
        self.index = Index()
        self.pack_entries: dict[bytes, list[BlobEntry]] = {}
        self.indexed_sizes: dict[bytes, tuple[int, str]] = {}
        self.stored_sizes: dict[bytes, int] = {}
        self.damaged: dict[bytes, str] = {}
        self.bad_trees: set[bytes] = set()
        self.snapshots: list[Snapshot] = []
        self.loaded_trees: list[bytes] = []
        self.pending: set[Future[PackOutcome]] = set()
        self.data_total = (0, 0)
        self.walk_started = False
        self.rescan_needed = False
        self.process_pool: ChildPool | None = None
        self.subdirectories: dict[bytes, list[tuple[bytes, bytes]]] = {}
        self.damaged_files: dict[bytes, list[tuple[bytes, bytes]]] = {}
        self.count_lock = threading.Lock()

    # -- recording ------------------------------------------------------------------------------

    def error(self, kind: str, name: str, message: str) -> None:
        self._record(self.report.errors, CheckProblem(kind, name, message))

    def warning(self, kind: str, name: str, message: str) -> None:
        self._record(self.report.warnings, CheckProblem(kind, name, message))

    def _record(self, problems: list[CheckProblem], problem: CheckProblem) -> None:
        if problem not in self.seen_problems:
            self.seen_problems.add(problem)
            problems.append(problem)
            self.reporter(ItemWarning(OPERATION, problem.name, f"{problem.kind}: {problem.message}"))

    def progress(self, stage: str, done: int, total: int | None = None, *, force: bool = False) -> None:
        if force or self.throttle.due():
            self.reporter(Progress(OPERATION, done, self.counts.bytes_read, total, None, stage))

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        data = self.storage.load(name, offset, length)
        with self.count_lock:
            self.counts.bytes_read += len(data)
        return data


__all__ = ["OPERATION", "CheckRun"]
