"""Repairing a damaged repository: rebuilding the index from the packs, and rewriting snapshots.

:func:`repair_index` (module :mod:`.index_repair`) rebuilds the index from the packs' own headers;
:func:`repair_snapshots` (modules :mod:`.snapshot_repair` and :mod:`.trees`) rewrites the snapshots
that refer to data no longer stored, keeping everything still readable and recording what was lost.
"""

from resguardo.engine.repair.index_repair import IndexRepairReport, repair_index
from resguardo.engine.repair.snapshot_repair import RepairedSnapshot, SnapshotRepairReport, repair_snapshots
from resguardo.engine.repair.trees import DAMAGED_SUFFIX

__all__ = [
    "DAMAGED_SUFFIX",
    "IndexRepairReport",
    "RepairedSnapshot",
    "SnapshotRepairReport",
    "repair_index",
    "repair_snapshots",
]
