"""The connections of an SFTP storage: a small pool of SSH sessions, and which failures are worth a retry.

A session whose connection broke during an operation is closed and forgotten, and the failure turned
into :class:`ConnectionLost`, which :func:`is_transient` accepts; the next try opens a new connection.
Sessions are opened when first needed, up to the pool's size, and lent to one thread at a time.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import paramiko

from resguardo.core.errors import ResguardoError, StorageError


class ConnectionLost(StorageError):
    """The connection dropped or stopped answering in the middle of an operation (worth retrying)."""


@dataclass(slots=True)
class Session:
    """One SSH connection and its SFTP session."""

    transport: paramiko.Transport
    sftp: paramiko.SFTPClient

    def alive(self) -> bool:
        return bool(self.transport.is_active()) and not self.sftp.get_channel().closed

    def close(self) -> None:
        try:
            self.sftp.close()
        finally:
            self.transport.close()


def is_transient(error: BaseException) -> bool:
    """Return True for a failure worth retrying after reconnecting: a lost, refused or silent connection.

    Errors already turned into a :class:`ResguardoError` are final, except :class:`ConnectionLost`;
    so are a failed host key check and a refused login.
    """
    if isinstance(error, ConnectionLost):
        return True
    if isinstance(error, ResguardoError | paramiko.AuthenticationException | paramiko.BadHostKeyException):
        return False
    if isinstance(error, socket.gaierror):
        return error.errno == socket.EAI_AGAIN
    return isinstance(error, EOFError | TimeoutError | ConnectionError | paramiko.SSHException)


class Pool:
    """Up to ``size`` sessions, handed to one thread at a time and opened when first needed."""

    def __init__(self, connect: Callable[[], Session], size: int) -> None:
        self.connect = connect
        self.size = size
        self.idle: list[Session] = []
        self.open_count = 0
        self.condition = threading.Condition()
        self.owner = os.getpid()

    def _take(self) -> Session:
        while True:
            with self.condition:
                while not self.idle and self.open_count >= self.size:
                    self.condition.wait()
                if not self.idle:
                    self.open_count += 1
                    break
                session = self.idle.pop()
            if session.alive():
                return session
            self._discard(session)  # the server closed it while it was idle
        try:
            return self.connect()
        except BaseException:
            self._forget()
            raise

    def _forget(self) -> None:
        with self.condition:
            self.open_count -= 1
            self.condition.notify()

    def _give_back(self, session: Session) -> None:
        with self.condition:
            self.idle.append(session)
            self.condition.notify()

    @contextmanager
    def session(self) -> Iterator[paramiko.SFTPClient]:
        """Lend a session for the block; drop it if its connection broke.

        Raises:
            ConnectionLost: the connection dropped or timed out during the block.
        """
        session = self._take()
        try:
            yield session.sftp
        except Exception as error:
            if isinstance(error, ResguardoError) or (is_status(error) and session.alive()):
                self._give_back(session)
                raise
            self._discard(session)
            raise ConnectionLost(f"the connection dropped: {describe(error)}") from error
        except BaseException:
            self._discard(session)
            raise
        self._give_back(session)

    def _discard(self, session: Session) -> None:
        with contextlib.suppress(Exception):
            session.close()
        self._forget()

    def close(self) -> None:
        """Close the idle sessions (sessions in use are closed when given back)."""
        with self.condition:
            idle, self.idle = self.idle, []
            self.open_count -= len(idle)
            self.condition.notify_all()
        for session in idle:
            with contextlib.suppress(Exception):
                session.close()


def is_status(error: Exception) -> bool:
    """Return True for an error the server answered with (no such file, permission denied, failure)."""
    return type(error) in (OSError, FileNotFoundError, PermissionError)


def describe(error: BaseException) -> str:
    """Return a short description of a low-level error."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    text = str(error)
    return text if text else type(error).__name__
