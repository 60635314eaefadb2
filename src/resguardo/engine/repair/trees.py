"""Rewriting a snapshot's trees without what can no longer be read: the tree part of ``repair snapshots``.

This module owns :class:`TreeRewriter`. A tree that cannot be loaded (not indexed, its pack missing,
damaged, malformed) becomes an empty directory; a file whose content blobs are not all stored keeps
the readable ones, in order, and its size becomes theirs. Either is renamed with the suffix
``.damaged`` (``.damaged-2``, ... when that name is taken), so that a restore shows at once what is
incomplete. Every unique tree is rewritten once, bottom-up and without recursion, and shared by all
the snapshots that use it; an unchanged tree keeps its ID, so unchanged snapshots are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

from resguardo.core.errors import IntegrityError, StorageError
from resguardo.engine.pack import BlobType
from resguardo.engine.repository import Repository
from resguardo.engine.tree import DIRECTORY, Node, decode_tree, encode_tree

DAMAGED_SUFFIX = b".damaged"


class Loss(NamedTuple):
    """One entry a rewrite changed, relative to the tree it was found in."""

    path: bytes
    marked_as: bytes
    type: str
    missing_blobs: int
    bytes_lost: int
    reason: str

    def under(self, name: bytes) -> Loss:
        """Return the loss as seen from the parent directory, where this tree is entry ``name``."""
        return self._replace(path=name + b"/" + self.path, marked_as=name + b"/" + self.marked_as)


@dataclass(frozen=True, slots=True)
class Rewritten:
    """A tree after rewriting.

    Attributes:
        tree_id: the new tree's ID (the old one when nothing changed), or None when it could not be read.
        reason: why it could not be read.
        lost: what was lost below it.
    """

    tree_id: bytes | None
    reason: str = ""
    lost: tuple[Loss, ...] = ()


def marked_name(name: bytes, taken: set[bytes]) -> bytes:
    """Return ``name`` with the ``.damaged`` suffix, numbered when needed to avoid the names in ``taken``."""
    candidate = name + DAMAGED_SUFFIX
    number = 2
    while candidate in taken:
        candidate = name + DAMAGED_SUFFIX + f"-{number}".encode()
        number += 1
    taken.add(candidate)
    return candidate


class TreeRewriter:
    """Rewrites trees so that they refer only to blobs the repository can still read.

    Args:
        repository: an open repository whose index is loaded.
        stored_packs: the IDs of the packs present in storage.
        save: store the new trees (else only compute their IDs, for a dry run).
    """

    def __init__(self, repository: Repository, stored_packs: set[bytes], *, save: bool) -> None:
        self.repository = repository
        self.stored_packs = stored_packs
        self.save = save
        self.memo: dict[bytes, Rewritten] = {}
        self.trees_written = 0
        self._empty_tree: bytes | None = None

    def available(self, blob_id: bytes, blob_type: int) -> bool:
        """Return True when the index places the blob, as this type, in a pack that is stored."""
        location = self.repository.index.lookup(blob_id)
        return location is not None and location.type == blob_type and location.pack_id in self.stored_packs

    def store_tree(self, nodes: list[Node]) -> bytes:
        """Return the ID of a tree made of ``nodes`` (sorted here), storing it unless this is a dry run."""
        data = encode_tree(sorted(nodes, key=lambda node: node.name))
        if not self.save:
            return self.repository.keys.blob_id(data)
        tree_id, added = self.repository.save_blob(BlobType.TREE, data)
        self.trees_written += 1 if added else 0
        return tree_id

    def empty_tree(self) -> bytes:
        """Return the ID of the empty tree, stored once."""
        if self._empty_tree is None:
            self._empty_tree = self.store_tree([])
        return self._empty_tree

    def load(self, tree_id: bytes) -> list[Node] | str:
        """Return a tree's nodes, or why it cannot be read."""
        location = self.repository.index.lookup(tree_id)
        if location is None:
            return "its tree is in no pack"
        if location.type != BlobType.TREE:
            return "the index lists its tree as file content"
        if location.pack_id not in self.stored_packs:
            return f"the pack {location.pack_id.hex()[:16]} holding its tree is missing"
        try:
            return decode_tree(self.repository.load_blob(tree_id))
        except (IntegrityError, StorageError) as error:
            return f"its tree is damaged: {error}"

    def rewrite(self, root: bytes) -> Rewritten:
        """Return the rewritten tree ``root``, rewriting every tree below it first (each unique tree once)."""
        loaded: dict[bytes, list[Node]] = {}
        stack = [root]
        while stack:
            tree_id = stack[-1]
            if tree_id in self.memo:
                stack.pop()
                continue
            nodes = loaded.get(tree_id)
            if nodes is None:
                outcome = self.load(tree_id)
                if isinstance(outcome, str):
                    self.memo[tree_id] = Rewritten(None, outcome)
                    stack.pop()
                    continue
                loaded[tree_id] = outcome
                children = [
                    node.subtree
                    for node in outcome
                    if node.type == DIRECTORY and node.subtree is not None and node.subtree not in self.memo
                ]
                if children:
                    stack.extend(children)
                    continue
                nodes = outcome
            stack.pop()
            del loaded[tree_id]
            self.memo[tree_id] = self.rebuild(tree_id, nodes)
        return self.memo[root]

    def rebuild(self, tree_id: bytes, nodes: list[Node]) -> Rewritten:
        """Return a loaded tree rewritten from its rewritten subtrees and its files' readable content."""
        taken = {node.name for node in nodes}
        new_nodes = []
        lost: list[Loss] = []
        for node in nodes:
            if node.type == DIRECTORY and node.subtree is not None:
                new_nodes.append(self.rebuild_directory(node, taken, lost))
            elif node.content:
                new_nodes.append(self.rebuild_file(node, taken, lost))
            else:
                new_nodes.append(node)
        if not lost:
            return Rewritten(tree_id)
        return Rewritten(self.store_tree(new_nodes), lost=tuple(lost))

    def rebuild_directory(self, node: Node, taken: set[bytes], lost: list[Loss]) -> Node:
        assert node.subtree is not None
        child = self.memo[node.subtree]
        if child.tree_id is None:
            marked = marked_name(node.name, taken)
            lost.append(Loss(node.name, marked, DIRECTORY, 0, 0, child.reason))
            return replace(node, name=marked, subtree=self.empty_tree())
        if child.tree_id == node.subtree:
            return node
        lost.extend(loss.under(node.name) for loss in child.lost)
        return replace(node, subtree=child.tree_id)

    def rebuild_file(self, node: Node, taken: set[bytes], lost: list[Loss]) -> Node:
        kept = [blob_id for blob_id in node.content if self.available(blob_id, BlobType.DATA)]
        if len(kept) == len(node.content):
            return node
        size = 0
        for blob_id in kept:
            location = self.repository.index.lookup(blob_id)
            size += location.raw_length if location is not None else 0
        marked = marked_name(node.name, taken)
        missing = len(node.content) - len(kept)
        reason = f"{missing} of its {len(node.content)} content blobs are in no stored pack"
        lost.append(Loss(node.name, marked, node.type, missing, max(node.size - size, 0), reason))
        return replace(node, name=marked, content=kept, size=size)


__all__ = ["DAMAGED_SUFFIX", "Loss", "Rewritten", "TreeRewriter", "marked_name"]
