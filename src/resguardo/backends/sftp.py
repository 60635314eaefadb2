"""Storage on an SFTP server, reached over SSH with keys only.

Each object is a file under the repository folder. A save writes a temporary file ``.tmp-NAME.RANDOM``
in the object's final folder (created when missing), asks the server to flush it to its disk
(``fsync@openssh.com``), then renames it into place with ``posix-rename@openssh.com``, which replaces
an older object atomically; so a reader never sees half an object. Servers that refuse that rename
(see "append-only" in docs/cli.md) get a plain rename, which never replaces an existing file.

Several threads may use one storage: it keeps a small pool of SSH connections (four by default),
each with its SFTP session, opened when first needed. Passed to a worker process (pickled), it
carries only its location and the paths of its key and known_hosts files, and connects again there.

A connection that drops, times out or is refused is tried again with a pause that doubles each time
(see :mod:`resguardo.backends.retry`); permission denied, a missing object, an unknown host key or a
refused key fail at once. See :mod:`resguardo.backends._sftp_connect` for the location syntax, the keys
offered and the host key check.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import secrets
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import paramiko
from paramiko.sftp import CMD_EXTENDED

from resguardo.backends._sftp_connect import (
    AuthenticationFailed,
    Credentials,
    HostKeyError,
    SftpLocation,
    open_transport,
    parse_location,
)
from resguardo.backends._sftp_read import read_range
from resguardo.backends.base import StoredObject
from resguardo.backends.retry import RetryPolicy, call_with_retries
from resguardo.core.errors import ObjectNotFound, ResguardoError, StorageError

TEMPORARY_PREFIX = ".tmp-"
DEFAULT_CONNECTIONS = 4
DEFAULT_TIMEOUT = 60.0
"""Seconds a connection may stay silent before it counts as dropped."""

Result = TypeVar("Result")

__all__ = ["AuthenticationFailed", "HostKeyError", "SftpStorage"]


class ConnectionLost(StorageError):
    """The connection dropped or stopped answering in the middle of an operation (worth retrying)."""


@dataclass(slots=True)
class _Session:
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


class _Pool:
    """Up to ``size`` sessions, handed to one thread at a time and opened when first needed."""

    def __init__(self, connect: Callable[[], _Session], size: int) -> None:
        self.connect = connect
        self.size = size
        self.idle: list[_Session] = []
        self.open_count = 0
        self.condition = threading.Condition()
        self.owner = os.getpid()

    def _take(self) -> _Session:
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

    def _give_back(self, session: _Session) -> None:
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
            if isinstance(error, ResguardoError) or (_is_status(error) and session.alive()):
                self._give_back(session)
                raise
            self._discard(session)
            if isinstance(error, ResguardoError):
                raise
            raise ConnectionLost(f"the connection dropped: {_describe(error)}") from error
        except BaseException:
            self._discard(session)
            raise
        self._give_back(session)

    def _discard(self, session: _Session) -> None:
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


def _is_status(error: Exception) -> bool:
    """Return True for an error the server answered with (no such file, permission denied, failure)."""
    return type(error) in (OSError, FileNotFoundError, PermissionError)


def _describe(error: BaseException) -> str:
    """Return a short description of a low-level error."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    text = str(error)
    return text if text else type(error).__name__


class SftpStorage:
    """Objects kept as files under a folder of an SFTP server.

    Args:
        location: ``sftp://[USER@]HOST[:PORT]/PATH`` (see :mod:`resguardo.backends._sftp_connect`).
        key_file: the private key to log in with; None uses ``RESGUARDO_SFTP_KEY``, else the agent
            and the usual keys of ``~/.ssh``.
        known_hosts: the known_hosts file; None uses ``RESGUARDO_SFTP_KNOWN_HOSTS``, else
            ``~/.ssh/known_hosts``.
        connections: how many connections may be open at once.
        retry: how often and how patiently to retry after a connection failed.
        timeout: seconds a connection may stay silent before it counts as dropped.
        sleep: waits between retries (replace it in tests).

    Raises:
        ConfigurationError: the location is malformed, or ``connections`` is less than 1.
    """

    def __init__(
        self,
        location: str | SftpLocation,
        *,
        key_file: str | None = None,
        known_hosts: str | None = None,
        connections: int = DEFAULT_CONNECTIONS,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if connections < 1:
            from resguardo.core.errors import ConfigurationError

            raise ConfigurationError(f"an SFTP storage needs at least one connection, not {connections}")
        self.address = location if isinstance(location, SftpLocation) else parse_location(location)
        self.credentials = Credentials.from_environment(key_file, known_hosts)
        self.connections = connections
        self.retry = retry if retry is not None else RetryPolicy()
        self.timeout = timeout
        self.sleep = sleep
        self.fsync_supported = True
        self._pool = _Pool(self._connect, connections)

    # -- pickling: connections stay behind, the child opens its own -----------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "credentials": self.credentials,
            "connections": self.connections,
            "retry": self.retry,
            "timeout": self.timeout,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.address = state["address"]
        self.credentials = state["credentials"]
        self.connections = state["connections"]
        self.retry = state["retry"]
        self.timeout = state["timeout"]
        self.sleep = None
        self.fsync_supported = True
        self._pool = _Pool(self._connect, self.connections)

    # -- what the engine asks about -------------------------------------------------------------------

    @property
    def location(self) -> str:
        """Return the ``sftp://`` location (it holds no secret)."""
        return str(self.address)

    @property
    def is_local(self) -> bool:
        """Every read crosses the network: the engine reads larger windows and caches metadata."""
        return False

    @property
    def shareable_between_processes(self) -> bool:
        """Worker processes can open their own connections from a pickled copy."""
        return True

    # -- connections and retries ----------------------------------------------------------------------

    def _connect(self) -> _Session:
        transport = open_transport(self.address, self.credentials, self.timeout)
        try:
            sftp = paramiko.SFTPClient.from_transport(transport)
            if sftp is None:
                raise ConnectionLost(f"{self.address.known_hosts_name} opened no SFTP session")
            sftp.get_channel().settimeout(self.timeout)
        except BaseException:
            transport.close()
            raise
        return _Session(transport, sftp)

    def _pool_of_this_process(self) -> _Pool:
        if self._pool.owner != os.getpid():  # a forked child: the parent's connections are not ours
            self._pool = _Pool(self._connect, self.connections)
        return self._pool

    def _run(self, action: str, name: str, operation: Callable[[paramiko.SFTPClient], Result]) -> Result:
        """Run ``operation`` with a session, reconnecting and retrying while failures are transient.

        Raises:
            StorageError: the operation failed for good, or kept failing transiently.
        """

        def attempt() -> Result:
            with self._pool_of_this_process().session() as sftp:
                return operation(sftp)

        try:
            if self.sleep is None:
                return call_with_retries(attempt, policy=self.retry, is_transient=is_transient)
            return call_with_retries(attempt, policy=self.retry, is_transient=is_transient, sleep=self.sleep)
        except ResguardoError as error:
            if isinstance(error, ConnectionLost):
                raise self._gave_up(action, name, error) from None
            raise
        except OSError as error:
            raise self._describe_os_error(error, action, name) from None
        except (EOFError, paramiko.SSHException) as error:
            raise self._gave_up(action, name, error) from None

    def _gave_up(self, action: str, name: str, error: BaseException) -> StorageError:
        return StorageError(
            f"cannot {action} {name} on {self.address.known_hosts_name}: {_describe(error)} "
            f"(tried {self.retry.attempts} times)",
            "check the network and that the SSH server is running, then run the command again",
        )

    def _describe_os_error(self, error: OSError, action: str, name: str) -> StorageError:
        if isinstance(error, ConnectionError | TimeoutError):
            return self._gave_up(action, name, error)
        where = f"{self._path(name)} on {self.address.known_hosts_name}"
        if isinstance(error, PermissionError):
            return StorageError(
                f"cannot {action} {where}: permission denied",
                f"check that {self.address.user} may {action} files in {self.address.path} on the server",
            )
        return StorageError(f"cannot {action} {where}: {_describe(error)}")

    def _path(self, name: str) -> str:
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise StorageError(f"invalid object name {name!r}")
        return f"{self.address.path.rstrip('/')}/{name}"

    # -- the Storage protocol -------------------------------------------------------------------------

    def save(self, name: str, data: bytes | memoryview) -> None:
        """Write ``data`` to a temporary file beside ``name``, flush it, and rename it into place.

        Raises:
            StorageError: the write failed (permission, disk full, connection lost for good).
        """
        path = self._path(name)
        folder, _, base = path.rpartition("/")
        self._run("write", name, lambda sftp: self._save(sftp, folder, base, memoryview(data)))

    def _save(self, sftp: paramiko.SFTPClient, folder: str, base: str, data: memoryview) -> None:
        temporary = f"{folder}/{TEMPORARY_PREFIX}{base}.{secrets.token_hex(4)}"
        try:
            stream = sftp.open(temporary, "wb")
        except FileNotFoundError:
            self._make_folders(sftp, folder)
            stream = sftp.open(temporary, "wb")
        try:
            with stream:
                stream.set_pipelined(True)
                stream.write(data)
                stream.flush()
                self._flush_to_disk(sftp, stream)
            self._rename(sftp, temporary, f"{folder}/{base}")
        except BaseException:
            with contextlib.suppress(Exception):
                sftp.remove(temporary)
            raise

    def _flush_to_disk(self, sftp: paramiko.SFTPClient, stream: paramiko.SFTPFile) -> None:
        if not self.fsync_supported:
            return
        try:
            sftp._request(CMD_EXTENDED, "fsync@openssh.com", stream.handle)
        except OSError as error:
            if error.errno is not None or "unsupported" not in str(error).lower():
                raise
            self.fsync_supported = False

    @staticmethod
    def _rename(sftp: paramiko.SFTPClient, temporary: str, final: str) -> None:
        try:
            sftp.posix_rename(temporary, final)
        except PermissionError:
            sftp.rename(temporary, final)  # an append-only server: never replaces an existing object

    def _make_folders(self, sftp: paramiko.SFTPClient, folder: str) -> None:
        """Create ``folder`` and the folders above it that are missing (another thread may race us)."""
        try:
            sftp.mkdir(folder)
        except FileNotFoundError:
            parent = folder.rpartition("/")[0]
            if not parent:
                raise
            self._make_folders(sftp, parent)
            self._make_folders(sftp, folder)
        except OSError:
            try:
                is_folder = stat.S_ISDIR(sftp.stat(folder).st_mode or 0)
            except OSError:
                is_folder = False
            if not is_folder:
                raise

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Read the object, or ``length`` bytes of it from ``offset`` (cut short at its end).

        Raises:
            ObjectNotFound: no object has that name.
            StorageError: the read failed.
        """
        path = self._path(name)

        def read(sftp: paramiko.SFTPClient) -> bytes:
            return self._missing_as(name, lambda: self._load(sftp, path, offset, length))

        return self._run("read", name, read)

    @staticmethod
    def _load(sftp: paramiko.SFTPClient, path: str, offset: int, length: int | None) -> bytes:
        with sftp.open(path, "rb") as stream:
            size = stream.stat().st_size or 0
            end = size if length is None else min(size, offset + length)
            if end <= offset:
                return b""
            return read_range(sftp, stream.handle, offset, end - offset)

    def _missing_as(self, name: str, read: Callable[[], Result]) -> Result:
        try:
            return read()
        except FileNotFoundError:
            raise ObjectNotFound(f"object {name} not found in {self.location}") from None

    def size(self, name: str) -> int:
        """Return the object's size in bytes.

        Raises:
            ObjectNotFound: no object has that name.
            StorageError: the server could not be asked.
        """
        path = self._path(name)

        def measure(sftp: paramiko.SFTPClient) -> int:
            return self._missing_as(name, lambda: sftp.stat(path).st_size or 0)

        return self._run("stat", name, measure)

    def exists(self, name: str) -> bool:
        """Return True when a file has that name.

        Raises:
            StorageError: the server could not be asked.
        """
        path = self._path(name)

        def check(sftp: paramiko.SFTPClient) -> bool:
            try:
                return stat.S_ISREG(sftp.stat(path).st_mode or 0)
            except FileNotFoundError:
                return False

        return self._run("stat", name, check)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Yield every object whose name starts with ``prefix``, temporary files excluded.

        Raises:
            StorageError: a folder could not be listed.
        """
        folder = prefix.rpartition("/")[0]
        found = self._run("list", prefix or ".", lambda sftp: self._walk(sftp, folder))
        yield from (stored for stored in found if stored.name.startswith(prefix))

    def _walk(self, sftp: paramiko.SFTPClient, folder: str) -> builtins.list[StoredObject]:
        root = self.address.path.rstrip("/")
        found: builtins.list[StoredObject] = []
        pending = [folder]
        while pending:
            relative = pending.pop()
            try:
                entries = sftp.listdir_attr(f"{root}/{relative}" if relative else root or "/")
            except FileNotFoundError:
                continue
            for entry in sorted(entries, key=lambda item: item.filename):
                name = f"{relative}/{entry.filename}" if relative else entry.filename
                mode = entry.st_mode or 0
                if stat.S_ISDIR(mode):
                    pending.append(name)
                elif stat.S_ISREG(mode) and not entry.filename.startswith(TEMPORARY_PREFIX):
                    found.append(StoredObject(name, entry.st_size or 0))
        return found

    def remove(self, name: str) -> None:
        """Delete the file if present.

        Raises:
            StorageError: the file exists but could not be deleted.
        """
        path = self._path(name)

        def delete(sftp: paramiko.SFTPClient) -> None:
            with contextlib.suppress(FileNotFoundError):
                sftp.remove(path)

        self._run("delete", name, delete)

    def close(self) -> None:
        """Close the open connections (the storage reconnects if used again)."""
        self._pool_of_this_process().close()
