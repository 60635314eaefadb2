"""Walking the snapshots' trees, and mapping every damaged blob or tree to the snapshot paths it affects.

This module owns :class:`TreeWalk`. The walk loads each unique tree once (on this thread from local
storage, where decoding is interpreter-bound, and on threads from remote storage, where waiting
dominates) and keeps, per tree, only its subdirectories and the damaged blobs its files use. The
paths a damaged blob affects are then put together bottom-up, once per unique tree, and prefixed with
each snapshot's path to it: a blob shared by a thousand snapshots costs one lookup, not a thousand
walks. A damaged tree affects its directory and everything under it. Blobs found damaged by the data
check after the walk saw their tree (possible when both run at once) are placed by reading the walked
trees once more.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from resguardo.core.errors import IntegrityError, StorageError
from resguardo.engine.checker.data_check import DataCheck
from resguardo.engine.checker.packs import ID_MISMATCH, in_pack
from resguardo.engine.checker.report import AffectedPath
from resguardo.engine.crypto import plain_id
from resguardo.engine.pack import BlobType
from resguardo.engine.repository import SNAPSHOTS_PREFIX, pack_name
from resguardo.engine.snapshot import Snapshot
from resguardo.engine.tree import DIRECTORY, decode_tree

_NO_DAMAGE: tuple[tuple[bytes, bytes], ...] = ()
_TreeNode = tuple[bytes, str, list[bytes], bytes | None]


class TreeWalk(DataCheck):
    """The snapshot part of a check run: snapshots, the trees they reach, and what damage affects.

    It builds on :class:`DataCheck` because packs read while the walk runs are merged as they finish.
    """

    def check_snapshots(self) -> None:
        for stored in self.storage.list(SNAPSHOTS_PREFIX):
            self.counts.snapshots += 1
            snapshot_id = stored.name.removeprefix(SNAPSHOTS_PREFIX)
            try:
                data = self.load(stored.name)
                if plain_id(data).hex() != snapshot_id:
                    raise IntegrityError("snapshot content does not match its name (damaged)")
                self.snapshots.append(Snapshot.from_document(snapshot_id, self.keys.decrypt(data)))
            except (IntegrityError, StorageError) as error:
                self.error("snapshot", stored.name, str(error))

    def read_tree(self, tree_id: bytes) -> list[_TreeNode] | str:
        """Return (name, type, content, subtree) of each node of a tree, or why it cannot be read."""
        location = self.index.lookup(tree_id)
        if location is None:
            return "tree is not in any index"
        if location.type != BlobType.TREE:
            return "the index lists this tree as a data blob"
        try:
            envelope = self.load(pack_name(location.pack_id), location.offset, location.length)
            plaintext = self.repository.open_blob(tree_id, location, envelope, verify=False)
            if self.keys.blob_id(plaintext) != tree_id:
                raise IntegrityError(ID_MISMATCH)
            nodes = decode_tree(plaintext)
        except (IntegrityError, StorageError) as error:
            return in_pack(location.pack_id, error)
        return [(node.name, node.type, node.content, node.subtree) for node in nodes]

    def load_tree(self, tree_id: bytes) -> list[_TreeNode] | str:
        """Like :meth:`read_tree`, but a tree the data check found damaged is not read again ("")."""
        return "" if tree_id in self.damaged else self.read_tree(tree_id)

    def walk_trees(self, loader: ThreadPoolExecutor | None) -> None:
        """Load every unique tree once, level by level, recording subdirectories and damaged files.

        Trees load on this thread from local storage (decoding them is interpreter-bound), on
        ``loader`` from remote storage (where waiting dominates). Packs read meanwhile are merged
        as they finish.
        """
        self.walk_started = True
        frontier = list(dict.fromkeys(snapshot.tree for snapshot in self.snapshots))
        visited = set(frontier)
        while frontier:
            loaded = loader.map(self.load_tree, frontier) if loader else map(self.load_tree, frontier)
            next_frontier: list[bytes] = []
            for tree_id, nodes in zip(frontier, loaded, strict=True):
                if isinstance(nodes, str):
                    self.bad_trees.add(tree_id)
                    if tree_id not in self.damaged:
                        self.damaged[tree_id] = nodes
                        self.error("tree", tree_id.hex(), nodes)
                    continue
                self.counts.trees += 1
                self.loaded_trees.append(tree_id)
                next_frontier.extend(self.scan_tree(tree_id, nodes, visited))
                if self.counts.trees % 256 == 0:
                    self.drain(block=False)
                    self.progress("trees", self.counts.trees)
            frontier = next_frontier

    def rescan_trees(self) -> None:
        """Find the files that use blobs the data check found damaged after their tree was walked."""
        visited = set(self.loaded_trees)
        for tree_id in self.loaded_trees:
            nodes = self.read_tree(tree_id)
            if not isinstance(nodes, str):
                self.scan_tree(tree_id, nodes, visited)

    def scan_tree(self, tree_id: bytes, nodes: list[_TreeNode], visited: set[bytes]) -> list[bytes]:
        """Record a loaded tree's subdirectories and damaged files; return the subtrees not seen before."""
        lookup = self.index.lookup
        damaged = self.damaged
        subdirectories = []
        damaged_files: dict[tuple[bytes, bytes], None] = {}
        unseen = []
        for name, node_type, content, subtree in nodes:
            if node_type == DIRECTORY and subtree is not None:
                subdirectories.append((name, subtree))
                if subtree not in visited:
                    visited.add(subtree)
                    unseen.append(subtree)
            for blob_id in content:
                if blob_id in damaged:
                    damaged_files[name, blob_id] = None
                    continue
                location = lookup(blob_id)
                if location is None:
                    message = f"blob is missing: no index lists it (used by tree {tree_id.hex()[:16]})"
                elif location.type != BlobType.DATA:
                    message = f"the index lists file content as a tree (used by tree {tree_id.hex()[:16]})"
                else:
                    continue
                damaged[blob_id] = message
                self.error("blob", blob_id.hex(), message)
                damaged_files[name, blob_id] = None
        if subdirectories:
            self.subdirectories[tree_id] = subdirectories
        if damaged_files:
            self.damaged_files[tree_id] = list(damaged_files)
        return unseen

    # -- what the damage affects ----------------------------------------------------------------

    def damage_below(self, root: bytes, memo: dict[bytes, tuple[tuple[bytes, bytes], ...]]) -> None:
        """Fill ``memo``: for ``root`` and its subtrees, (relative path, damaged blob or tree) pairs."""
        stack = [(root, False)]
        while stack:
            tree_id, children_done = stack.pop()
            if tree_id in memo:
                continue
            if tree_id in self.bad_trees:
                memo[tree_id] = ((b"", tree_id),)
                continue
            children = self.subdirectories.get(tree_id, [])
            if not children_done:
                stack.append((tree_id, True))
                stack.extend((subtree, False) for _name, subtree in children if subtree not in memo)
                continue
            found = list(self.damaged_files.get(tree_id, ()))
            for name, subtree in children:
                found.extend(
                    (name + b"/" + path if path else name, blob) for path, blob in memo.get(subtree, ())
                )
            memo[tree_id] = tuple(found) if found else _NO_DAMAGE

    def map_affected(self) -> None:
        affected: dict[str, list[AffectedPath]] = {blob_id.hex(): [] for blob_id in self.damaged}
        for tree_id in self.bad_trees:
            affected.setdefault(tree_id.hex(), [])
        if not affected:
            return
        memo: dict[bytes, tuple[tuple[bytes, bytes], ...]] = {}
        for snapshot in sorted(self.snapshots, key=lambda item: (item.time, item.id)):
            self.damage_below(snapshot.tree, memo)
            for path, blob_id in memo[snapshot.tree]:
                affected[blob_id.hex()].append(AffectedPath(snapshot.short_id, "/" + os.fsdecode(path)))
        self.report.affected = affected


__all__ = ["TreeWalk"]
