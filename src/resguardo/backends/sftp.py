"""Storage on an SFTP server, reached over SSH with keys only.

Each object is a file under the repository folder. A save writes a temporary file ``.tmp-NAME.RANDOM``
in the object's final folder (created when missing), flushes it to the server's disk and renames it into
place, so a reader never sees half an object (see :mod:`resguardo.backends._sftp_write`, which also
explains how an append-only account is served).

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
import stat
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import paramiko

from resguardo.backends._sftp_connect import (
    AuthenticationFailed,
    Credentials,
    HostKeyError,
    SftpLocation,
    open_transport,
    parse_location,
)
from resguardo.backends._sftp_pool import ConnectionLost, Pool, Session, describe, is_transient
from resguardo.backends._sftp_read import read_range
from resguardo.backends._sftp_write import TEMPORARY_PREFIX, ReplaceRefused, Writer
from resguardo.backends.base import StoredObject
from resguardo.backends.credentials import StorageCredentials
from resguardo.backends.retry import RetryPolicy, call_with_retries
from resguardo.core.errors import ConfigurationError, ObjectNotFound, ResguardoError, StorageError

DEFAULT_CONNECTIONS = 4
DEFAULT_TIMEOUT = 60.0
"""Seconds a connection may stay silent before it counts as dropped."""

Result = TypeVar("Result")

__all__ = ["AuthenticationFailed", "HostKeyError", "SftpStorage"]


def _credentials(
    key_file: str | None, known_hosts: str | None, given: StorageCredentials | None
) -> Credentials:
    """Return the keys to offer and trust: those ``given`` in memory first, then files and variables."""
    from_files = Credentials.from_environment(key_file, known_hosts)
    if given is None:
        return from_files
    return Credentials(
        key_file=from_files.key_file,
        known_hosts=from_files.known_hosts,
        key_text=given.ssh_private_key,
        key_passphrase=given.ssh_key_passphrase,
        host_keys_text=given.ssh_host_keys,
        origin=given.origin,
    )


class SftpStorage:
    """Objects kept as files under a folder of an SFTP server.

    Args:
        location: ``sftp://[USER@]HOST[:PORT]/PATH`` (see :mod:`resguardo.backends._sftp_connect`).
        key_file: the private key to log in with; None uses ``RESGUARDO_SFTP_KEY``, else the agent
            and the usual keys of ``~/.ssh``.
        known_hosts: the known_hosts file; None uses ``RESGUARDO_SFTP_KNOWN_HOSTS``, else
            ``~/.ssh/known_hosts``.
        given: a private key and host keys given in memory (their SSH fields), which take the place
            of ``key_file`` and ``known_hosts`` respectively when set.
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
        given: StorageCredentials | None = None,
        connections: int = DEFAULT_CONNECTIONS,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if connections < 1:
            raise ConfigurationError(f"an SFTP storage needs at least one connection, not {connections}")
        self.address = location if isinstance(location, SftpLocation) else parse_location(location)
        self.credentials = _credentials(key_file, known_hosts, given)
        self.connections = connections
        self.retry = retry if retry is not None else RetryPolicy()
        self.timeout = timeout
        self.sleep = sleep
        self.writer = Writer()
        self._pool = Pool(self._connect, connections)

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
        self.writer = Writer()
        self._pool = Pool(self._connect, self.connections)

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

    def _connect(self) -> Session:
        transport = open_transport(self.address, self.credentials, self.timeout)
        try:
            sftp = paramiko.SFTPClient.from_transport(transport)
            if sftp is None:
                raise ConnectionLost(f"{self.address.known_hosts_name} opened no SFTP session")
            sftp.get_channel().settimeout(self.timeout)
        except BaseException:
            transport.close()
            raise
        return Session(transport, sftp)

    def _pool_of_this_process(self) -> Pool:
        if self._pool.owner != os.getpid():  # a forked child: the parent's connections are not ours
            self._pool = Pool(self._connect, self.connections)
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
            f"cannot {action} {name} on {self.address.known_hosts_name}: {describe(error)} "
            f"(tried {self.retry.attempts} times)",
            "check the network and that the SSH server is running, then run the command again",
        )

    def _describe_os_error(self, error: OSError, action: str, name: str) -> StorageError:
        if isinstance(error, ConnectionError | TimeoutError):
            return self._gave_up(action, name, error)
        where = f"{self._path(name)} on {self.address.known_hosts_name}"
        if isinstance(error, ReplaceRefused):
            return StorageError(
                f"cannot replace {where}: the server refuses to replace files (an append-only account)",
                "run this operation with an account that may replace and delete files",
            )
        if isinstance(error, PermissionError):
            return StorageError(
                f"cannot {action} {where}: permission denied",
                f"check that {self.address.user} may {action} files in {self.address.path} on the server",
            )
        return StorageError(f"cannot {action} {where}: {describe(error)}")

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
        self._run("write", name, lambda sftp: self.writer.write(sftp, folder, base, memoryview(data)))

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
