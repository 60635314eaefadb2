"""Tree objects: the entries of one directory, with their metadata, stored as TREE blobs.

A tree is a msgpack map ``{"nodes": [node, ...]}`` with nodes sorted by name (bytes). Each node is
a map whose keys are listed in :data:`NODE_FIELDS`; fields equal to their default are omitted, and
the last-access time is never stored, so an unchanged directory always yields the same bytes (and
therefore the same blob ID, which is how unchanged trees cost nothing to store again).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from resguardo.core.errors import IntegrityError

FILE = "file"
DIRECTORY = "dir"
SYMLINK = "symlink"
FIFO = "fifo"
CHARACTER_DEVICE = "chardev"
BLOCK_DEVICE = "blockdev"
SOCKET = "socket"
NODE_TYPES = frozenset({FILE, DIRECTORY, SYMLINK, FIFO, CHARACTER_DEVICE, BLOCK_DEVICE, SOCKET})
TREE_FORMAT_VERSION = 1


@dataclass(slots=True)
class Node:
    """One directory entry and its metadata.

    ``mode`` holds the permission bits (``stat.S_IMODE``); ``mtime_ns`` and ``ctime_ns`` are
    nanoseconds since the epoch; ``device`` is set only for files with several hard links.
    """

    name: bytes
    type: str
    mode: int = 0
    uid: int = 0
    gid: int = 0
    user: str = ""
    group: str = ""
    mtime_ns: int = 0
    ctime_ns: int = 0
    size: int = 0
    inode: int = 0
    device: int = 0
    links: int = 1
    content: list[bytes] = field(default_factory=list)
    subtree: bytes | None = None
    target: bytes = b""
    rdev: int = 0
    xattrs: list[tuple[bytes, bytes]] = field(default_factory=list)
    sparse: bool = False

    def to_map(self) -> dict[str, Any]:
        """Return the node as stored: a map without the fields that have their default value."""
        stored: dict[str, Any] = {"name": self.name, "type": self.type, "mode": self.mode}
        for key, value, default in (
            ("uid", self.uid, 0),
            ("gid", self.gid, 0),
            ("user", self.user, ""),
            ("group", self.group, ""),
            ("mtime", self.mtime_ns, 0),
            ("ctime", self.ctime_ns, 0),
            ("size", self.size, 0),
            ("inode", self.inode, 0),
            ("device", self.device, 0),
            ("links", self.links, 1),
            ("target", self.target, b""),
            ("rdev", self.rdev, 0),
            ("sparse", self.sparse, False),
        ):
            if value != default:
                stored[key] = value
        if self.content:
            stored["content"] = self.content
        if self.subtree is not None:
            stored["subtree"] = self.subtree
        if self.xattrs:
            stored["xattrs"] = [list(pair) for pair in self.xattrs]
        return stored

    @classmethod
    def from_map(cls, stored: dict[str, Any]) -> Node:
        """Return the node from its stored map.

        Raises:
            IntegrityError: a field is missing or of the wrong type.
        """
        try:
            node = cls(
                name=stored["name"],
                type=stored["type"],
                mode=int(stored["mode"]),
                uid=int(stored.get("uid", 0)),
                gid=int(stored.get("gid", 0)),
                user=str(stored.get("user", "")),
                group=str(stored.get("group", "")),
                mtime_ns=int(stored.get("mtime", 0)),
                ctime_ns=int(stored.get("ctime", 0)),
                size=int(stored.get("size", 0)),
                inode=int(stored.get("inode", 0)),
                device=int(stored.get("device", 0)),
                links=int(stored.get("links", 1)),
                content=list(stored.get("content", [])),
                subtree=stored.get("subtree"),
                target=stored.get("target", b""),
                rdev=int(stored.get("rdev", 0)),
                xattrs=[(pair[0], pair[1]) for pair in stored.get("xattrs", [])],
                sparse=bool(stored.get("sparse", False)),
            )
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise IntegrityError(f"tree node is malformed: {error}") from None
        node.validate()
        return node

    def validate(self) -> None:
        """Check the fields a restore relies on.

        Raises:
            IntegrityError: the name could escape its directory, or a field has the wrong type.
        """
        if not isinstance(self.name, bytes) or not is_safe_name(self.name):
            raise IntegrityError(f"tree holds an unsafe entry name {self.name!r}")
        if self.type not in NODE_TYPES:
            raise IntegrityError(f"tree entry {self.name!r} has unknown type {self.type!r}")
        if not isinstance(self.target, bytes) or any(
            not isinstance(blob, bytes) or len(blob) != 32 for blob in self.content
        ):
            raise IntegrityError(f"tree entry {self.name!r} has malformed content references")
        if self.type == DIRECTORY and (not isinstance(self.subtree, bytes) or len(self.subtree) != 32):
            raise IntegrityError(f"directory entry {self.name!r} has no valid subtree")


def is_safe_name(name: bytes) -> bool:
    """Return True when ``name`` is a single path component that stays inside its directory."""
    return bool(name) and name not in (b".", b"..") and b"/" not in name and b"\0" not in name


def encode_tree(nodes: Iterable[Node]) -> bytes:
    """Return the stored bytes of a tree; ``nodes`` must already be sorted by name."""
    data: bytes = msgpack.packb({"version": TREE_FORMAT_VERSION, "nodes": [node.to_map() for node in nodes]})
    return data


def decode_tree(data: bytes) -> list[Node]:
    """Return the nodes of a stored tree, checked to be safe to restore.

    Raises:
        IntegrityError: the tree is malformed, has unsafe or duplicate names, or is out of order.
    """
    try:
        document = msgpack.unpackb(data)
        stored_nodes = document["nodes"]
        version = document.get("version", TREE_FORMAT_VERSION)
    except (ValueError, KeyError, TypeError, msgpack.ExtraData) as error:
        raise IntegrityError(f"tree is malformed: {error}") from None
    if version != TREE_FORMAT_VERSION or not isinstance(stored_nodes, list):
        raise IntegrityError("tree has an unsupported version or shape")
    nodes = [Node.from_map(stored) for stored in stored_nodes]
    for previous, current in itertools.pairwise(nodes):
        if previous.name >= current.name:
            raise IntegrityError(f"tree entries are duplicated or out of order at {current.name!r}")
    return nodes
