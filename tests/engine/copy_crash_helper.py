"""A copy that kills itself midway: the child process of the interrupted-copy tests.

Run as ``python -c "from tests.engine.copy_crash_helper import main; raise SystemExit(main())" ARGS``
from the project root. It opens the source and destination repositories (local directories), takes a
shared lock on both as the command line does, and copies every snapshot of the source; the
destination's storage sends SIGKILL to this process right after the N-th pack it writes, as a power
cut or ``kill -9`` would stop it.

Arguments: SOURCE DESTINATION CACHE_DIR KILL_AFTER_PACKS.
"""

from __future__ import annotations

import os
import signal
import sys

from resguardo.backends.local import LocalStorage
from resguardo.engine.copier import copy_snapshots
from resguardo.engine.locks import locked
from resguardo.engine.repository import DATA_PREFIX, Repository
from resguardo.engine.snapshot import list_snapshots

SOURCE_PASSPHRASE = b"source passphrase for the copy tests"
DESTINATION_PASSPHRASE = b"another passphrase for the destination"


class KillingStorage(LocalStorage):
    """Local storage that kills its own process right after the N-th pack it saves."""

    def __init__(self, root: str, kill_after_packs: int) -> None:
        super().__init__(root, durable=True)
        self.kill_after_packs = kill_after_packs
        self.packs_saved = 0

    def save(self, name: str, data: bytes | memoryview) -> None:
        super().save(name, data)
        if name.startswith(DATA_PREFIX):
            self.packs_saved += 1
            if self.packs_saved >= self.kill_after_packs:
                os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    """Copy every snapshot, dying after the chosen pack; return 0 only if it was never reached."""
    source_path, destination_path, cache_dir, kill_after = sys.argv[1:5]
    source = Repository.open(LocalStorage(source_path), SOURCE_PASSPHRASE)
    destination = Repository.open(KillingStorage(destination_path, int(kill_after)), DESTINATION_PASSPHRASE)
    with locked(source), locked(destination):
        copy_snapshots(source, destination, list_snapshots(source), cache_dir=cache_dir, workers=2)
    return 0
