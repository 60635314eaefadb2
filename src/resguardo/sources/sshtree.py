"""A client server's file tree over SSH, agentless: one connection, one listing, contents only when needed.

:class:`SshTreeSource` logs in with a key after checking the server's host key (the checks and messages
of SFTP repositories, :mod:`resguardo.backends._sftp_connect`), lists the whole tree in one stream
(:mod:`resguardo.sources.sshlisting`), and reads the files the engine asks for over SFTP: several at
once, each on an SFTP session of its own inside the same connection, with many read requests in flight
per large file and a bounded amount of data held at any time, and the small ones through ``tar`` streams
where the client has GNU tar (:mod:`resguardo.sources.sshreading`). Nothing is installed on the client;
it needs an SSH server with SFTP, and a POSIX shell with ``find`` (GNU ``find`` for the fast listing).

Every byte that crosses the network is counted, below the encryption (:class:`CountingSocket`), and
the listing's and the contents' bytes separately (a tar stream's headers are not contents):
:meth:`SshTreeSource.transfer_counts`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paramiko

from resguardo.backends._sftp_connect import (
    KEY_ENV,
    AuthenticationFailed,
    Credentials,
    HostKeyError,
    SftpLocation,
    open_transport_on,
)
from resguardo.core.errors import ConfigurationError, SourceError
from resguardo.engine.remotetree import RemoteEntry, RemoteListing, StoreContent, StoredContent
from resguardo.sources.sshlisting import (
    PROBE_COMMAND,
    ancestors_of,
    listing_command,
    run_listing,
    walk_over_sftp,
)
from resguardo.sources.sshreading import FileReads
from resguardo.sources.sshtar import close_settled

DEFAULT_PARALLEL_READS = 8
CONNECT_TIMEOUT = 15.0


class CountingSocket:
    """A connected socket that counts the bytes it sends and receives (what crosses the network)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sent = 0
        self.received = 0

    def send(self, data: bytes) -> int:
        sent = self.sock.send(data)
        self.sent += sent
        return sent

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)
        self.sent += len(data)

    def recv(self, size: int) -> bytes:
        data = self.sock.recv(size)
        self.received += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def parse_target(text: str, default_user: str) -> SftpLocation:
    """Return the user, host and port of ``[USER@]HOST[:PORT]`` (an IPv6 host in brackets).

    Raises:
        ConfigurationError: the text is not of that form.
    """
    hint = "write it as USER@HOST, USER@HOST:PORT or USER@[IPv6]:PORT"
    parts = urlsplit(f"ssh://{text}")
    try:
        port = parts.port or 22
    except ValueError:
        raise ConfigurationError(f"{text!r} has an invalid port", hint) from None
    if not parts.hostname or parts.path or parts.query or parts.fragment or parts.password is not None:
        raise ConfigurationError(f"{text!r} is not an SSH address", hint)
    user = unquote(parts.username) if parts.username else default_user
    return SftpLocation(user, parts.hostname, port, "/")


@dataclass(slots=True)
class _Transfer:
    listing: int = 0
    content: int = 0
    files_read: int = 0
    files_streamed: int = 0


class SshTreeSource:
    """The files of one client server, reached over SSH (implements the engine's ``RemoteTreeSource``).

    Args:
        location: the user, host and port to reach (see :func:`parse_target`).
        credentials: the key to log in with and the host keys to trust.
        parallel: session channels used at once to read files (tar streams and SFTP sessions).
        use_tar: read small files through ``tar`` streams when the client has GNU tar (False: SFTP only).
    """

    def __init__(
        self,
        location: SftpLocation,
        credentials: Credentials,
        parallel: int = DEFAULT_PARALLEL_READS,
        use_tar: bool = True,
    ) -> None:
        self.location = location
        self.credentials = credentials
        self.parallel = max(1, parallel)
        self.use_tar = use_tar
        self.has_tar = False
        self.transport: paramiko.Transport | None = None
        self.counting: CountingSocket | None = None
        self.transfer = _Transfer()
        self.lock = threading.Lock()

    @property
    def address(self) -> str:
        """Return ``user@host:port`` for messages."""
        return f"{self.location.user}@{self.location.known_hosts_name}"

    def connect(self) -> None:
        """Connect, check the host key and log in.

        Raises:
            SourceError: the host cannot be reached, its host key is unknown or changed, or the key
                was refused (nothing is sent before the host key is checked).
            ConfigurationError: no usable key (missing, unreadable, locked by a passphrase).
        """
        where = f"{self.location.host}:{self.location.port}"
        try:
            sock = socket.create_connection((self.location.host, self.location.port), timeout=CONNECT_TIMEOUT)
        except OSError as error:
            reason = error.strerror or str(error) or type(error).__name__
            raise SourceError(
                f"cannot reach the client {where}: {reason.lower()}",
                "check the host name and port, that the client's SSH server runs, and the firewalls between",
            ) from None
        self.counting = CountingSocket(sock)
        try:
            self.transport = open_transport_on(
                self.counting,  # type: ignore[arg-type]  # acts as the socket it wraps
                self.location,
                self.credentials,
                CONNECT_TIMEOUT,
            )
        except (HostKeyError, AuthenticationFailed) as error:
            raise SourceError(error.message, error.hint) from None
        except ConfigurationError as error:
            hint = error.hint.replace(f"{KEY_ENV} / --sftp-key", "the key file option")
            raise ConfigurationError(error.message, hint) from None
        except (OSError, EOFError, paramiko.SSHException) as error:
            raise SourceError(
                f"the SSH connection to {where} failed: {error or type(error).__name__}",
                "check that an SSH server answers on that port",
            ) from None

    def _transport(self) -> paramiko.Transport:
        if self.transport is None:
            self.connect()
        assert self.transport is not None
        return self.transport

    def run(self, command: str) -> bytes:
        """Run a command on the client; return what it printed (counted as listing bytes)."""
        channel = self._transport().open_session()
        try:
            channel.exec_command(command)
            output = b""
            while data := channel.recv(65536):
                output += data
            channel.recv_exit_status()
            with self.lock:
                self.transfer.listing += len(output)
            return output
        finally:
            close_settled(channel)

    def list_tree(self, paths: Sequence[bytes], one_file_system: bool) -> RemoteListing:
        """Return the metadata of everything under ``paths`` (see :mod:`resguardo.sources.sshlisting`).

        Raises:
            SourceError: the connection failed or the listing was cut short.
        """
        try:
            probe = self.run(PROBE_COMMAND)
            self.has_tar = b"t" in probe
            if not probe.startswith(b"x"):
                sftp = paramiko.SFTPClient.from_transport(self._transport())
                assert sftp is not None
                with contextlib.closing(sftp):
                    return walk_over_sftp(sftp, paths)
            compressed = b"g" in probe
            command = listing_command(ancestors_of(paths), paths, one_file_system, compressed)
            listing, received = run_listing(self._transport(), command, compressed, paths)
        except paramiko.ChannelException as error:
            raise SourceError(
                f"the SSH server of {self.address} refused to open a session ({error.text or 'open failed'})",
                "the server allows no session to this user: check MaxSessions, ForceCommand and Match "
                "blocks of its sshd_config",
            ) from None
        except (EOFError, paramiko.SSHException) as error:
            raise self.lost(error) from None
        with self.lock:
            self.transfer.listing += received
        return listing

    def lost(self, error: BaseException) -> SourceError:
        return SourceError(
            f"the SSH connection to {self.address} was lost: {error or type(error).__name__}",
            "check the network and the client, then run the backup again",
        )

    def read_files(
        self, entries: Sequence[RemoteEntry], store: StoreContent
    ) -> Iterator[tuple[RemoteEntry, StoredContent | str]]:
        """Read the files, each through ``store``; yield each with its outcome as they finish.

        The small ones go through tar streams when the client has GNU tar (see
        :mod:`resguardo.sources.sshreading`), the others over SFTP, ``parallel`` sessions at once.
        An outcome is what ``store`` returned, or a message when the file could not be read.

        Raises:
            SourceError: the connection was lost, or the server granted no session.
            StorageError: ``store`` could not write the repository.
        """
        return iter(FileReads(self, entries, store, self.use_tar and self.has_tar))

    def transport_now(self) -> paramiko.Transport:
        """Return the SSH transport, connecting first when needed (see :meth:`connect`)."""
        return self._transport()

    def count_files(self, amount: int, streamed: int = 0) -> None:
        """Count files read (``streamed`` of them through tar)."""
        with self.lock:
            self.transfer.files_read += amount
            self.transfer.files_streamed += streamed

    def count_content(self, amount: int) -> None:
        with self.lock:
            self.transfer.content += amount

    def transfer_counts(self) -> dict[str, int]:
        """Return the bytes moved so far: on the network (both ways), in the listing, in file contents."""
        counting = self.counting
        with self.lock:
            return {
                "network_bytes_received": counting.received if counting else 0,
                "network_bytes_sent": counting.sent if counting else 0,
                "listing_bytes": self.transfer.listing,
                "content_bytes": self.transfer.content,
                "files_read": self.transfer.files_read,
                "files_streamed": self.transfer.files_streamed,
            }

    def close(self) -> None:
        """Close the connection."""
        if self.transport is not None:
            self.transport.close()
            self.transport = None
