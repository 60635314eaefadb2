"""The workers of a restore: threads of this process, or child processes of their own.

This module owns the two worker pools (:class:`_ThreadWorkers`, :class:`_ProcessWorkers`), the
lean pickling of nodes for the messages to its worker processes (the pipes and frames themselves
are :mod:`resguardo.engine.processes`), and the worker process itself: :func:`_worker_main`, started as
``python -m resguardo.engine.restorer`` (see ``__main__.py``), which opens each job's directory
again from the target down with :class:`_DirectoryOpener` and checks it is the one created.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import pickle
import queue
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from resguardo.core.errors import ResguardoError
from resguardo.engine.crypto import RepositoryKeys
from resguardo.engine.index import BlobLocation
from resguardo.engine.processes import ChildProcess, read_frame, write_frame
from resguardo.engine.repository import Repository
from resguardo.engine.restorer.entry_writer import _carry_out, _Writer
from resguardo.engine.restorer.plan import _Group, _Job, _Outcome, _Piece
from resguardo.engine.restorer.reading import _BlobReader
from resguardo.engine.restorer.writing import _DIRECTORY_FLAGS, _identity, _read_umask
from resguardo.engine.tree import Node

_OutcomeQueue = queue.SimpleQueue[_Outcome]


class _ThreadWorkers:
    """Worker threads of this process; jobs carry a descriptor of their directory."""

    def __init__(self, writer: _Writer, count: int, outcomes: _OutcomeQueue) -> None:
        self.writer = writer
        self.outcomes = outcomes
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.stopping = False
        self.threads = [
            threading.Thread(target=self.work, name=f"restore-{n}", daemon=True) for n in range(count)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, job: _Job) -> None:
        self.jobs.put(job)

    def work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                outcome = _Outcome() if self.stopping else _carry_out(self.writer, job, _group_fd)
            finally:
                for group in job.groups:
                    os.close(group.fd)
            if outcome.fatal is not None or outcome.crash:
                self.stopping = True
            self.outcomes.put(outcome)

    def close(self, *, abandon: bool) -> None:
        self.stopping = self.stopping or abandon
        for _thread in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join()


def _task_content(task: Node | _Piece) -> list[bytes]:
    return task.node.content[task.first : task.last] if isinstance(task, _Piece) else task.content


def _group_fd(group: _Group) -> int:
    return group.fd


def _node_from_fields(  # noqa: PLR0917 - the inverse of _reduce_node
    name: bytes,
    kind: str,
    mode: int,
    uid: int,
    gid: int,
    user: str,
    group: str,
    mtime_ns: int,
    size: int,
    content: list[bytes],
    target: bytes,
    rdev: int,
    xattrs: list[tuple[bytes, bytes]],
    sparse: bool,
) -> Node:
    return Node(
        name=name,
        type=kind,
        mode=mode,
        uid=uid,
        gid=gid,
        user=user,
        group=group,
        mtime_ns=mtime_ns,
        size=size,
        content=content,
        target=target,
        rdev=rdev,
        xattrs=xattrs,
        sparse=sparse,
    )


def _reduce_node(node: Node) -> tuple[Callable[..., Node], tuple[Any, ...]]:
    """Pickle only what a worker needs of a node, faster than the dataclass's own way."""
    return _node_from_fields, (
        node.name,
        node.type,
        node.mode,
        node.uid,
        node.gid,
        node.user,
        node.group,
        node.mtime_ns,
        node.size,
        node.content,
        node.target,
        node.rdev,
        node.xattrs,
        node.sparse,
    )


_REDUCERS: dict[type, Callable[[Any], Any]] = {Node: _reduce_node}


def _write_frame(stream: BinaryIO, message: object) -> None:
    write_frame(stream, message, _REDUCERS)


class _WorkerProcess(ChildProcess):
    """One child process writing files, the pipes to it, and a thread collecting its outcomes."""

    def __init__(
        self, setup: tuple[object, ...], target_fd: int, outcomes: queue.SimpleQueue[_Outcome]
    ) -> None:
        super().__init__(
            "resguardo.engine.restorer", setup, extra_descriptors=(target_fd,), reducers=_REDUCERS
        )
        self.outcomes = outcomes
        self.outstanding = 0
        self.collector = threading.Thread(target=self.collect, name="restore-collector", daemon=True)
        self.collector.start()

    def collect(self) -> None:
        while True:
            try:
                outcome = read_frame(self.replies)
            except (OSError, EOFError, pickle.UnpicklingError):
                outcome = None
            if outcome is None:
                self.outcomes.put(_Outcome(crash="a restore worker process ended unexpectedly"))
                return
            self.outstanding -= 1
            self.outcomes.put(outcome)

    def close(self, *, abandon: bool) -> None:
        if abandon:
            self.process.kill()
        with contextlib.suppress(OSError):
            self.requests.close()
        self.process.wait()
        self.replies.close()


class _ProcessWorkers:
    """Worker processes; jobs carry their directory's path and identity, and their blobs' locations."""

    def __init__(
        self,
        repository: Repository,
        verify: bool,
        target_fd: int,
        count: int,
        outcomes: queue.SimpleQueue[_Outcome],
    ) -> None:
        self.lookup = repository.index.lookup
        umask = _read_umask()
        setup = (repository.storage, repository.keys.master_secret, verify, umask)
        self.workers: list[_WorkerProcess] = []
        try:
            for _number in range(count):
                self.workers.append(_WorkerProcess(setup, target_fd, outcomes))
        except BaseException:
            self.close(abandon=True)
            raise

    def submit(self, job: _Job) -> None:
        lookup = self.lookup
        locations: dict[bytes, BlobLocation] = {}
        for group in job.groups:
            for task in group.tasks:
                for blob_id in _task_content(task):
                    location = lookup(blob_id)
                    if location is not None:
                        locations[blob_id] = location
        job.locations = locations
        worker = min(self.workers, key=lambda candidate: candidate.outstanding)
        worker.outstanding += 1
        try:
            _write_frame(worker.requests, job)
        except OSError:
            raise ResguardoError("a restore worker process ended unexpectedly") from None

    def close(self, *, abandon: bool) -> None:
        for worker in self.workers:
            worker.close(abandon=abandon)
        for worker in self.workers:
            worker.collector.join()


class _DirectoryOpener:
    """Opens job directories in a worker process, from the target down, reusing the last path's."""

    def __init__(self, target_fd: int) -> None:
        self.target_fd = target_fd
        self.stack: list[tuple[bytes, int]] = []

    def open(self, group: _Group) -> int:
        """Return a descriptor of the group's directory, checked to be the one created.

        Raises:
            OSError: a directory on the way cannot be opened, or is not the one created.
        """
        names = [name for name in group.path.split(b"/") if name]
        depth = 0
        while depth < min(len(names), len(self.stack)) and self.stack[depth][0] == names[depth]:
            depth += 1
        while len(self.stack) > depth:
            os.close(self.stack.pop()[1])
        for name in names[depth:]:
            parent = self.stack[-1][1] if self.stack else self.target_fd
            self.stack.append((name, os.open(name, _DIRECTORY_FLAGS, dir_fd=parent)))
        fd = self.stack[-1][1] if self.stack else self.target_fd
        if _identity(fd) != group.identity:
            raise OSError(errno.ESTALE, "the directory was replaced by something else during the restore")
        return fd


def _worker_main(requests: BinaryIO, replies: BinaryIO, target_fd: int) -> None:
    """Run a worker process: read the set-up frame, then jobs, until the parent closes the pipe."""
    gc.disable()  # this process makes no reference cycles worth the collector's time
    setup = read_frame(requests)
    if setup is None:
        return
    storage, master_secret, verify, umask = setup
    reader = _BlobReader(storage, RepositoryKeys(master_secret), verify)
    writer = _Writer(reader, os.geteuid() == 0, (os.geteuid(), os.getegid()), umask)
    opener = _DirectoryOpener(target_fd)
    jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()

    def read_ahead() -> None:
        """Read jobs as they come, counting their blobs' uses before any is written."""
        try:
            while (job := read_frame(requests)) is not None:
                lookup = (job.locations or {}).get
                for group in job.groups:
                    for task in group.tasks:
                        reader.register(_task_content(task), lookup)
                jobs.put(job)
        finally:
            jobs.put(None)

    threading.Thread(target=read_ahead, name="restore-reader", daemon=True).start()
    while (job := jobs.get()) is not None:
        try:
            _write_frame(replies, _carry_out(writer, job, opener.open))
        except OSError:  # the restore process went away
            return
