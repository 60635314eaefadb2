"""Reading file-system metadata into tree nodes: stat, owner names, extended attributes."""

from __future__ import annotations

import errno
import functools
import grp
import os
import pwd
import stat

from resguardo.engine.tree import (
    BLOCK_DEVICE,
    CHARACTER_DEVICE,
    DIRECTORY,
    FIFO,
    FILE,
    SOCKET,
    SYMLINK,
    Node,
)

CACHEDIR_TAG_NAME = b"CACHEDIR.TAG"
CACHEDIR_TAG_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"


@functools.lru_cache(maxsize=4096)
def user_name(uid: int) -> str:
    """Return the name of user ``uid`` on this system, or an empty string."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


@functools.lru_cache(maxsize=4096)
def group_name(gid: int) -> str:
    """Return the name of group ``gid`` on this system, or an empty string."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""


_TYPES_BY_FORMAT = {
    stat.S_IFREG: FILE,
    stat.S_IFDIR: DIRECTORY,
    stat.S_IFLNK: SYMLINK,
    stat.S_IFIFO: FIFO,
    stat.S_IFCHR: CHARACTER_DEVICE,
    stat.S_IFBLK: BLOCK_DEVICE,
}


def node_type(mode: int) -> str:
    """Return the node type for a ``st_mode`` (sockets and anything unknown are ``socket``)."""
    return _TYPES_BY_FORMAT.get(stat.S_IFMT(mode), SOCKET)


def read_xattrs(path: bytes) -> list[tuple[bytes, bytes]]:
    """Return the extended attributes of ``path`` (not following symlinks), sorted by name.

    File systems without extended attributes give an empty list.
    """
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as error:
        if error.errno in (errno.ENOTSUP, errno.ENODATA, errno.EPERM, errno.EACCES):
            return []
        raise
    attributes = []
    for name in sorted(names):
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        attributes.append((os.fsencode(name), value))
    return attributes


def node_from_stat(name: bytes, path: bytes, status: os.stat_result, *, with_xattrs: bool = True) -> Node:
    """Return a node holding the metadata of ``path``, whose lstat result is ``status``.

    Content and subtree are left empty; symlink targets are read here.

    Raises:
        OSError: the symlink target or the extended attributes could not be read.
    """
    kind = node_type(status.st_mode)
    node = Node(
        name=name,
        type=kind,
        mode=stat.S_IMODE(status.st_mode),
        uid=status.st_uid,
        gid=status.st_gid,
        user=user_name(status.st_uid),
        group=group_name(status.st_gid),
        mtime_ns=status.st_mtime_ns,
        ctime_ns=status.st_ctime_ns,
        inode=status.st_ino,
        links=status.st_nlink if kind == FILE else 1,
    )
    if kind == FILE:
        node.size = status.st_size
        if status.st_nlink > 1:
            node.device = status.st_dev
        node.sparse = status.st_blocks * 512 < status.st_size
    elif kind == SYMLINK:
        node.target = os.readlink(path)
    elif kind in (CHARACTER_DEVICE, BLOCK_DEVICE):
        node.rdev = status.st_rdev
    if with_xattrs:
        node.xattrs = read_xattrs(path)
    return node


def is_tagged_cache_directory(path: bytes) -> bool:
    """Return True when ``path`` holds a valid ``CACHEDIR.TAG`` (the cache-directory convention)."""
    try:
        with open(os.path.join(path, CACHEDIR_TAG_NAME), "rb") as tag:
            return tag.read(len(CACHEDIR_TAG_SIGNATURE)) == CACHEDIR_TAG_SIGNATURE
    except OSError:
        return False
