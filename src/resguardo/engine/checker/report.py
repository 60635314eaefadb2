"""The report of a check: the problems found, the counts, and the snapshot paths damage affects.

This module owns what a check hands back: :class:`CheckProblem` (one error or warning),
:class:`AffectedPath` (a snapshot path that cannot be restored intact), :class:`CheckCounts` (how much
was examined), and :class:`CheckReport`, which gathers them and turns itself into JSON for ``--json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class CheckProblem:
    """One problem found.

    Attributes:
        kind: what sort of object: ``config``, ``key``, ``index``, ``pack``, ``blob``, ``tree``, ``snapshot``.
        name: the object's storage name (``data/ab/ab…``, ``snapshots/…``), or the hex ID of a blob or tree.
        message: what is wrong with it.
    """

    kind: str
    name: str
    message: str


class AffectedPath(NamedTuple):
    """A path of a snapshot that cannot be restored intact: (snapshot short ID, absolute path)."""

    snapshot: str
    path: str


@dataclass(slots=True)
class CheckCounts:
    """How much was checked.

    Attributes:
        key_slots, index_files, snapshots: files of each kind examined.
        packs: packs known (indexed or stored); packs_read: packs read whole by the data check.
        blobs: blobs decrypted and verified by the data check.
        trees: unique trees loaded and decoded.
        bytes_read: bytes read from storage, all objects included.
    """

    key_slots: int = 0
    index_files: int = 0
    packs: int = 0
    packs_read: int = 0
    blobs: int = 0
    snapshots: int = 0
    trees: int = 0
    bytes_read: int = 0


@dataclass(slots=True)
class CheckReport:
    """What a check found.

    Attributes:
        errors: damage and inconsistencies; the repository is not healthy while any remain.
        warnings: harmless findings, such as packs an interrupted backup left unindexed.
        counts: how much was checked.
        affected: for every damaged or missing blob or tree (hex ID), the snapshot paths that use it;
            an empty list means no snapshot uses it.
        read_data: whether pack contents were read.
        subset: the subset of packs read, as given.
        seconds: how long the check took.
    """

    errors: list[CheckProblem] = field(default_factory=list)
    warnings: list[CheckProblem] = field(default_factory=list)
    counts: CheckCounts = field(default_factory=CheckCounts)
    affected: dict[str, list[AffectedPath]] = field(default_factory=dict)
    read_data: bool = False
    subset: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no error was found (warnings allowed)."""
        return not self.errors

    def affected_snapshots(self) -> set[str]:
        """Return the short IDs of the snapshots that have at least one damaged path."""
        return {item.snapshot for paths in self.affected.values() for item in paths}

    def affected_paths(self) -> set[AffectedPath]:
        """Return every (snapshot short ID, path) that cannot be restored intact."""
        return {item for paths in self.affected.values() for item in paths}

    def to_json(self) -> dict[str, Any]:
        """Return the report as a JSON-ready map (for ``--json`` output)."""
        return {
            "ok": self.ok,
            "read_data": self.read_data,
            "subset": self.subset,
            "seconds": self.seconds,
            "errors": [_problem_json(problem) for problem in self.errors],
            "warnings": [_problem_json(problem) for problem in self.warnings],
            "counts": {name: getattr(self.counts, name) for name in CheckCounts.__slots__},
            "affected": {
                object_id: [{"snapshot": item.snapshot, "path": item.path} for item in paths]
                for object_id, paths in self.affected.items()
            },
        }


def _problem_json(problem: CheckProblem) -> dict[str, str]:
    """Return a problem as a JSON-ready map."""
    return {"kind": problem.kind, "name": problem.name, "message": problem.message}


__all__ = ["AffectedPath", "CheckCounts", "CheckProblem", "CheckReport"]
