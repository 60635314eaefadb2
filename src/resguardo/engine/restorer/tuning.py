"""Tunables of the restore: batch and piece sizes, when worker processes pay off, read windows, caches.

Every size and count that shapes how the restore shares its work and reads its packs lives here, so
that the other modules of :mod:`resguardo.engine.restorer` (which re-exports them) agree on them.
"""

from __future__ import annotations

BATCH_FILES = 48
"""Entries of one directory handed to a worker at once."""
BATCH_BYTES = 4 * 1024 * 1024
"""Content bytes handed to a worker at once (a larger file is a batch of its own)."""
PIECE_BYTES = 32 * 1024 * 1024
"""Files larger than this are written in pieces of about this size, by several workers at once."""
JOBS_IN_FLIGHT_PER_WORKER = 6
PROCESSES_FROM_FILES = 2000
PROCESSES_FROM_BYTES = 256 * 1024 * 1024
"""Worker processes are started when the snapshot holds at least this many files or bytes."""
RUN_WINDOW_LOCAL = 4 * 1024 * 1024
RUN_WINDOW_REMOTE = 16 * 1024 * 1024
"""Wanted blobs of one pack window of this size are read together, with one load."""
RUN_CACHE_BYTES = 128 * 1024 * 1024
"""Memory that runs read but not yet used up may take (per worker process) before the oldest go."""
TREE_WINDOW = 1024 * 1024
"""Tree blobs are read with this many bytes of their pack on each side, for the trees nearby."""
TREE_WINDOWS_KEPT = 8
