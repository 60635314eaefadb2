"""Carrying out one job: creating its entries, writing their content and setting their metadata.

This module owns :class:`_Writer` (files, pieces of large files, symlinks, FIFOs and device nodes,
with owners, modes, extended attributes and times; a blob that cannot be read leaves a hole) and
:func:`_carry_out`, which runs a job in a worker thread or a worker process and turns every
failure into part of its :class:`_Outcome`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from resguardo.core.errors import IntegrityError, StorageError
from resguardo.engine.restorer.plan import _Group, _Job, _Outcome, _Piece
from resguardo.engine.restorer.reading import _BlobReader
from resguardo.engine.restorer.writing import (
    _MALFORMED,
    _check_fatal,
    _create_file,
    _describe,
    _entry_path,
    _FatalTargetError,
    _malformed,
    _owner,
    _remove_entry,
    _write_all,
    _write_sparse,
)
from resguardo.engine.tree import BLOCK_DEVICE, CHARACTER_DEVICE, FIFO, FILE, SYMLINK, Node

_DAMAGED_FILE = "restored with holes where its content is damaged: "


class _Writer:
    """Creates the entries of jobs and writes their content; holds no state but the reader."""

    def __init__(self, reader: _BlobReader, as_root: bool, owner: tuple[int, int], umask: int | None) -> None:
        self.reader = reader
        self.as_root = as_root
        self.owner = owner
        self.umask = umask

    def run(self, job: _Group, dir_fd: int, outcome: _Outcome) -> None:
        for task in job.tasks:
            if isinstance(task, _Piece):
                self.write_piece(job, dir_fd, task, outcome)
                continue
            outcome.done_files += 1
            try:
                if task.type == FILE:
                    outcome.done_bytes += task.size
                    self.restore_file(dir_fd, job, task, outcome)
                elif task.type == SYMLINK:
                    self.restore_symlink(dir_fd, job, task, outcome)
                else:
                    self.restore_special(dir_fd, job, task, outcome)
            except OSError as error:
                path = _entry_path(job.path, task.name)
                _check_fatal(path, error)
                outcome.errors.append((path, f"not restored: {_describe(error)}"))
            except _MALFORMED as error:
                path = _entry_path(job.path, task.name)
                outcome.errors.append((path, f"not restored: {_malformed(error)}"))

    def restore_file(self, dir_fd: int, job: _Group, node: Node, outcome: _Outcome) -> None:
        mode = node.mode
        umask = self.umask
        chmod = umask is None or job.inheriting or bool(mode & umask) or not 0 <= mode <= 0o777
        fd = _create_file(dir_fd, node.name, mode & 0o777)
        try:
            damage: list[str] = []
            end = self.write_content(fd, node, 0, len(node.content), 0, damage) if node.content else 0
            if end != node.size or node.sparse or damage:
                os.ftruncate(fd, node.size)
            if self.as_root:
                owner = _owner(node)
                if owner != self.owner or job.inheriting:
                    self.chown(fd, owner, _entry_path(job.path, node.name), outcome)
                    chmod = chmod or bool(mode & (stat.S_ISUID | stat.S_ISGID))
            if chmod:
                os.fchmod(fd, mode)
            if node.xattrs:
                self.set_xattrs(fd, node, _entry_path(job.path, node.name), outcome)
            os.utime(fd, ns=(node.mtime_ns, node.mtime_ns))
        finally:
            os.close(fd)
        if damage:
            _note_damage(_entry_path(job.path, node.name), damage, outcome)
        else:
            outcome.files += 1
            outcome.bytes += node.size

    @staticmethod
    def chown(fd: int, owner: tuple[int, int], path: str, outcome: _Outcome) -> None:
        try:
            os.fchown(fd, *owner)
        except OSError as error:
            outcome.warnings.append((path, f"owner not restored: {_describe(error)}"))
        except _MALFORMED as error:
            outcome.warnings.append((path, f"owner not restored: {_malformed(error)}"))

    def write_piece(self, job: _Group, dir_fd: int, piece: _Piece, outcome: _Outcome) -> None:
        """Write one piece of a large file; the calling thread finishes the file after its last piece."""
        outcome.done_bytes += piece.length
        damage: list[str] = []
        error = ""
        fd = piece.fd
        path = _entry_path(job.path, piece.node.name)
        try:
            if fd < 0:
                fd = os.open(piece.node.name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                status = os.fstat(fd)
                if (status.st_dev, status.st_ino) != piece.identity or status.st_nlink != 1:
                    error = "it was replaced by something else during the restore"
                else:
                    self.write_content(fd, piece.node, piece.first, piece.last, piece.offset, damage)
            finally:
                if fd != piece.fd:
                    os.close(fd)
        except OSError as failure:
            _check_fatal(path, failure)
            error = _describe(failure)
        outcome.pieces.append((piece.file_id, damage, error))

    def write_content(  # noqa: PLR0917 - a range of chunks and where it starts
        self, fd: int, node: Node, first: int, last: int, offset: int, damage: list[str]
    ) -> int:
        """Write the chunks ``first`` to ``last`` (exclusive) of a file from ``offset``; return the end.

        A chunk that cannot be read leaves a hole of its length and is described in ``damage``;
        in a sparse file, runs of zero bytes are left as holes.
        """
        reader = self.reader
        write = _write_sparse if node.sparse else _write_all
        content = node.content
        for index in range(first, last):
            blob_id = content[index]
            try:
                data = reader.plaintext(blob_id)
            except (IntegrityError, StorageError) as error:
                damage.append(f"bytes from {offset}: {error}")
                length = reader.raw_length(blob_id)
                if length is None:
                    length = self.infer_length(node, index, offset)
                    if length is None:
                        damage.append(f"the content after byte {offset} cannot be placed")
                        return offset
                offset += length
                continue
            write(fd, data, offset)
            offset += len(data)
        return offset

    def infer_length(self, node: Node, index: int, offset: int) -> int | None:
        """Return the length of an unindexed chunk when it is the only one of the rest of the file."""
        rest = [self.reader.raw_length(blob_id) for blob_id in node.content[index + 1 :]]
        if None in rest:
            return None
        length = node.size - offset - sum(length or 0 for length in rest)
        return length if length >= 0 else None

    def restore_symlink(self, dir_fd: int, job: _Group, node: Node, outcome: _Outcome) -> None:
        try:
            os.symlink(node.target, node.name, dir_fd=dir_fd)
        except FileExistsError:
            _remove_entry(dir_fd, node.name)
            os.symlink(node.target, node.name, dir_fd=dir_fd)
        self.apply_metadata_by_name(dir_fd, job, node, outcome)
        outcome.files += 1

    def restore_special(self, dir_fd: int, job: _Group, node: Node, outcome: _Outcome) -> None:
        if node.type == FIFO:
            kind, device = stat.S_IFIFO, 0
        elif node.type in (CHARACTER_DEVICE, BLOCK_DEVICE) and self.as_root:
            kind = stat.S_IFCHR if node.type == CHARACTER_DEVICE else stat.S_IFBLK
            device = node.rdev
        else:
            path = _entry_path(job.path, node.name)
            outcome.warnings.append((path, "device node not restored: creating one needs root"))
            return
        try:
            os.mknod(node.name, kind | 0o600, device, dir_fd=dir_fd)
        except FileExistsError:
            _remove_entry(dir_fd, node.name)
            os.mknod(node.name, kind | 0o600, device, dir_fd=dir_fd)
        self.apply_metadata_by_name(dir_fd, job, node, outcome)
        outcome.files += 1

    def apply_metadata_by_name(self, dir_fd: int, job: _Group, node: Node, outcome: _Outcome) -> None:
        """Set the metadata of a symlink or special file by name, never following it."""
        path = _entry_path(job.path, node.name)
        if self.as_root:
            try:
                os.chown(node.name, *_owner(node), dir_fd=dir_fd, follow_symlinks=False)
            except OSError as error:
                outcome.warnings.append((path, f"owner not restored: {_describe(error)}"))
            except _MALFORMED as error:
                outcome.warnings.append((path, f"owner not restored: {_malformed(error)}"))
        if node.type != SYMLINK:
            try:
                os.chmod(node.name, node.mode, dir_fd=dir_fd, follow_symlinks=False)
            except (NotImplementedError, OSError, *_MALFORMED):
                outcome.warnings.append((path, "mode not restored: not supported here"))
        if node.xattrs:
            self.set_xattrs(b"/proc/self/fd/%d/%s" % (dir_fd, node.name), node, path, outcome)
        os.utime(node.name, ns=(node.mtime_ns, node.mtime_ns), dir_fd=dir_fd, follow_symlinks=False)

    @staticmethod
    def set_xattrs(where: int | bytes, node: Node, path: str, outcome: _Outcome) -> None:
        """Set a node's extended attributes; those the file system refuses become one warning."""
        refused: list[str] = []
        reason = ""
        for name, value in node.xattrs:
            try:
                os.setxattr(where, name, value, follow_symlinks=isinstance(where, int))
            except OSError as error:
                refused.append(os.fsdecode(name))
                reason = reason or _describe(error)
            except _MALFORMED as error:
                refused.append(repr(name))
                reason = reason or _malformed(error)
        if refused:
            outcome.warnings.append(
                (path, f"extended attributes not restored ({reason}): {', '.join(refused)}")
            )


def _note_damage(path: str, damage: list[str], outcome: _Outcome) -> None:
    outcome.damaged.append(path)
    outcome.warnings.append((path, _DAMAGED_FILE + "; ".join(damage)))


def _carry_out(writer: _Writer, job: _Job, open_directory: Callable[[_Group], int]) -> _Outcome:
    """Run one job and return its outcome; failures become part of the outcome."""
    outcome = _Outcome()
    try:
        for group in job.groups:
            try:
                dir_fd = open_directory(group)
            except OSError as error:
                for task in group.tasks:
                    if isinstance(task, _Piece):
                        outcome.pieces.append((task.file_id, [], _describe(error)))
                    else:
                        outcome.done_files += 1
                        outcome.errors.append(
                            (_entry_path(group.path, task.name), f"not restored: {_describe(error)}")
                        )
                continue
            writer.run(group, dir_fd, outcome)
    except _FatalTargetError as fatal:
        outcome.fatal = fatal
    except Exception as crash:
        outcome.crash = f"{type(crash).__name__}: {crash}"
    return outcome
