"""A backup that kills itself at a chosen point: the child process of the crash-safety tests.

Run as ``python -c "from tests.engine.crash_helper import main; raise SystemExit(main())" ARGS`` from the
project root, in a process group of its own (``start_new_session=True``). It opens the repository
through :class:`KillingStorage`, takes a shared lock as the command line does, and backs up the given
paths. The storage counts the saves of each kind of object (``data``, ``index``, ``snapshots``) in a
file shared with the backup's worker processes, and at the chosen one kills the whole process group
with SIGKILL, as a power cut would stop every process at once:

* ``before:KIND:N``: right before the N-th save of that kind;
* ``torn:KIND:N``: in the middle of writing it: half of its bytes are in the temporary file, then kill;
* ``after:KIND:N``: right after it is complete;
* ``none``: do not kill; print the backup's summary and the number of saves of each kind as JSON.

With ``--announce``, the line ``ready`` is printed just before the backup starts, so that a test can
kill the process at a time of its choosing.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path

from resguardo.backends.local import TEMPORARY_PREFIX, LocalStorage
from resguardo.engine.archiver import BackupOptions, backup
from resguardo.engine.locks import locked
from resguardo.engine.repository import Repository

PASSPHRASE = b"crash test passphrase"
KINDS = ("data", "index", "snapshots")
MODES = ("before", "torn", "after")


def kind_of(name: str) -> str | None:
    """Return the kind of object a storage name is, among those counted, or None."""
    top = name.split("/", 1)[0]
    return top if top in KINDS else None


class KillingStorage(LocalStorage):
    """Local storage that kills its process group at one chosen save (see the module docstring).

    It is pickled into the backup's worker processes, so it holds only plain values, and keeps its
    counts in ``counter_path``, locked with ``flock``, so that every process counts the same saves.
    """

    def __init__(self, root: str, counter_path: str, kill: str) -> None:
        super().__init__(root, durable=True)
        self.counter_path = counter_path
        self.group = os.getpgrp()
        if kill == "none":
            self.mode, self.kind, self.number = "none", "", 0
        else:
            mode, kind, number = kill.split(":")
            if mode not in MODES or kind not in KINDS:
                raise ValueError(f"bad kill point {kill!r}")
            self.mode, self.kind, self.number = mode, kind, int(number)

    def _count(self, kind: str) -> int:
        with open(self.counter_path, "a+") as counter:
            fcntl.flock(counter, fcntl.LOCK_EX)
            counter.seek(0)
            text = counter.read()
            counts = json.loads(text) if text else {}
            counts[kind] = counts.get(kind, 0) + 1
            counter.seek(0)
            counter.truncate()
            counter.write(json.dumps(counts))
            counter.flush()
            return int(counts[kind])

    def _kill(self) -> None:
        os.killpg(self.group, signal.SIGKILL)
        time.sleep(60)  # never reached: SIGKILL cannot be caught

    def _write_half(self, name: str, data: bytes | memoryview) -> None:
        """Leave what a save interrupted halfway leaves: a temporary file with half of the bytes."""
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.parent / f"{TEMPORARY_PREFIX}{path.name}.{secrets.token_hex(4)}"
        view = memoryview(data)
        with open(temporary, "wb") as stream:
            stream.write(view[: len(view) // 2])
            stream.flush()
            os.fsync(stream.fileno())

    def save(self, name: str, data: bytes | memoryview) -> None:
        """Save, or die before, during or after this save when it is the chosen one."""
        kind = kind_of(name)
        chosen = False
        if kind is not None:
            chosen = self._count(kind) == self.number and kind == self.kind
        if chosen and self.mode == "before":
            self._kill()
        if chosen and self.mode == "torn":
            self._write_half(name, data)
            self._kill()
        super().save(name, data)
        if chosen and self.mode == "after":
            self._kill()


def main(arguments: list[str] | None = None) -> int:
    """Run one backup as described in the module docstring; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repository", required=True)
    parser.add_argument("--counter", required=True, help="file where the saves are counted")
    parser.add_argument("--kill", default="none", help="MODE:KIND:N, or none")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--hostname", default="crash-test-host")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--announce", action="store_true")
    parser.add_argument("paths", nargs="+")
    options = parser.parse_args(sys.argv[1:] if arguments is None else arguments)
    if os.getpgrp() != os.getpid():
        print("crash_helper must lead its own process group (start_new_session=True)", file=sys.stderr)
        return 2
    storage = KillingStorage(options.repository, options.counter, options.kill)
    repository = Repository.open(storage, PASSPHRASE)
    backup_options = BackupOptions(
        hostname=options.hostname, cache_dir=options.cache_dir, workers=options.workers
    )
    with locked(repository):
        if options.announce:
            print("ready", flush=True)
        result = backup(repository, options.paths, backup_options)
    counts = json.loads(Path(options.counter).read_text()) if Path(options.counter).exists() else {}
    print(json.dumps({"snapshot": result.snapshot.id, "summary": result.snapshot.summary, "saves": counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
