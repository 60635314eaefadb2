"""Reading a range of a remote file with many SFTP read requests in flight at once.

One request at a time would wait a round trip for each piece; paramiko's own read-ahead keeps its
pieces in a structure it searches again for every piece, which slows large reads down to a crawl.
This module sends up to :data:`IN_FLIGHT` requests of :data:`PIECE_BYTES` each, keeps each answer
under its request number, and joins them in order, asking again for whatever a short answer left out.
"""

from __future__ import annotations

from typing import Any

import paramiko
from paramiko.sftp import CMD_DATA, CMD_READ, CMD_STATUS, int64

PIECE_BYTES = 256 * 1024
"""Bytes asked for by one read request (OpenSSH's server answers up to 256 KiB at once)."""
IN_FLIGHT = 64
"""Read requests sent before waiting for the first answer."""


class _Answers:
    """Collects the answers to the read requests of one range, by request number.

    paramiko hands each answer to the object a request was sent for, through ``_async_response``.
    """

    def __init__(self, sftp: paramiko.SFTPClient) -> None:
        self.sftp = sftp
        self.data: dict[int, bytes] = {}
        self.error: BaseException | None = None

    def _async_response(self, kind: int, message: Any, number: int) -> None:
        if kind == CMD_DATA:
            self.data[number] = message.get_binary()
            return
        self.data[number] = b""
        if kind == CMD_STATUS:
            try:
                self.sftp._convert_status(message)
            except EOFError:
                return  # read past the end: an empty piece
            except Exception as error:
                self.error = error
        else:
            self.error = paramiko.SFTPError(f"unexpected answer {kind} to a read request")


def read_range(sftp: paramiko.SFTPClient, handle: bytes, offset: int, length: int) -> bytes:
    """Return up to ``length`` bytes of the open file ``handle`` from ``offset`` (fewer at its end).

    Raises:
        OSError: the server refused a read.
        EOFError, paramiko.SSHException: the connection dropped.
    """
    answers = _Answers(sftp)
    pieces: list[tuple[int, int, int]] = []  # (request number, offset, length) in file order
    end = offset + length
    next_offset = offset
    waiting = 0
    while next_offset < end or waiting:
        while next_offset < end and waiting < IN_FLIGHT:
            size = min(PIECE_BYTES, end - next_offset)
            number = sftp._async_request(answers, CMD_READ, handle, int64(next_offset), size)
            pieces.append((number, next_offset, size))
            next_offset += size
            waiting += 1
        before = len(answers.data)
        sftp._read_response()
        waiting -= len(answers.data) - before
        if answers.error is not None:
            raise answers.error
    return _join(sftp, handle, answers.data, pieces)


def _join(
    sftp: paramiko.SFTPClient, handle: bytes, data: dict[int, bytes], pieces: list[tuple[int, int, int]]
) -> bytes:
    """Join the answers in order; fill a short answer with further reads (stop at the file's end)."""
    parts: list[bytes] = []
    for number, piece_offset, size in pieces:
        piece = data[number]
        while 0 < len(piece) < size:
            more = _read_once(sftp, handle, piece_offset + len(piece), size - len(piece))
            if not more:
                break
            piece += more
        parts.append(piece)
        if len(piece) < size:
            break  # the end of the file
    return b"".join(parts)


def _read_once(sftp: paramiko.SFTPClient, handle: bytes, offset: int, size: int) -> bytes:
    try:
        kind, message = sftp._request(CMD_READ, handle, int64(offset), size)
    except EOFError:
        return b""
    if kind != CMD_DATA:
        raise paramiko.SFTPError(f"unexpected answer {kind} to a read request")
    return bytes(message.get_binary())
