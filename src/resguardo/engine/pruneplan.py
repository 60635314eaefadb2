"""Prune plans: the packs a prune will delete, published before anything is deleted.

A plan is an encrypted JSON object ``prune/<id>`` (see docs/format.md, "Prune")::

    {"version": 1, "created": ISO 8601, "condemned": [<pack id hex>, ...],
     "index_files": [<index file name>, ...], "snapshots": [<snapshot id>, ...],
     "waiting_for": [<lock id>, ...] | null}

``waiting_for`` is null until the prune has listed the locks that were held when the plan was
published; a plan left with null by a prune that died is void and is removed by the next prune.
Every session that starts while a plan exists leaves its condemned packs out of its index, so that
nothing it writes refers to them (:meth:`resguardo.engine.repository.Repository.begin_session`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from resguardo.backends.base import Storage
from resguardo.core.errors import IntegrityError, ObjectNotFound
from resguardo.engine.crypto import RepositoryKeys

PRUNE_PREFIX = "prune/"
PRUNE_EPOCH_NAME = "prune-epoch"
"""A random token a prune replaces before it deletes anything (metadata caches record it)."""
PLAN_FORMAT_VERSION = 1


@dataclass(slots=True)
class PrunePlan:
    """A published prune plan; ``id`` is its object's name without the prefix."""

    id: str
    created: str
    condemned: list[bytes]
    index_files: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    waiting_for: list[str] | None = None

    def to_bytes(self, keys: RepositoryKeys) -> bytes:
        """Return the encrypted object that stores this plan."""
        document = {
            "version": PLAN_FORMAT_VERSION,
            "created": self.created,
            "condemned": [pack_id.hex() for pack_id in self.condemned],
            "index_files": self.index_files,
            "snapshots": self.snapshots,
            "waiting_for": self.waiting_for,
        }
        return keys.encrypt(json.dumps(document).encode())

    @classmethod
    def from_bytes(cls, plan_id: str, keys: RepositoryKeys, data: bytes) -> PrunePlan:
        """Decode a stored plan.

        Raises:
            IntegrityError: the object fails authentication or is not a plan this version reads.
        """
        try:
            document = json.loads(keys.decrypt(data))
            if document["version"] != PLAN_FORMAT_VERSION:
                raise IntegrityError(f"prune plan {plan_id} has unsupported version {document['version']}")
            waiting = document["waiting_for"]
            return cls(
                id=plan_id,
                created=str(document["created"]),
                condemned=[bytes.fromhex(pack) for pack in document["condemned"]],
                index_files=[str(name) for name in document["index_files"]],
                snapshots=[str(name) for name in document["snapshots"]],
                waiting_for=None if waiting is None else [str(lock) for lock in waiting],
            )
        except (KeyError, TypeError, ValueError) as error:
            raise IntegrityError(f"prune plan {plan_id} is malformed: {error}") from None


def list_plans(storage: Storage, keys: RepositoryKeys) -> Iterator[PrunePlan]:
    """Yield every readable prune plan (a plan removed while listing is skipped).

    Raises:
        IntegrityError: a plan is damaged (a session must not guess what a prune will delete).
    """
    for stored in storage.list(PRUNE_PREFIX):
        try:
            data = storage.load(stored.name)
        except ObjectNotFound:
            continue
        yield PrunePlan.from_bytes(stored.name.removeprefix(PRUNE_PREFIX), keys, data)
