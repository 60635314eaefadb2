"""Tools run on a client server over SSH, agentless: a dump's output streamed back over the channel.

Every command runs under ``sh -c`` on the client, each argument quoted with :func:`shlex.quote`. A secret
(a database password, in the tool's own file format) never appears on a command line nor in the
environment: it is sent first on the channel's standard input, and the remote shell copies exactly its
bytes (``dd bs=1 count=N``) into a file of mode 0600 in a ``mktemp -d`` folder that a ``trap`` removes
when the command ends, however it ends. The tool is told the file's path with :data:`SECRET_PATH`.

:class:`SshCommandStream` is an ``OpenStream`` of the engine (like :class:`resguardo.sources._process.
CommandStream`): the tool's standard output is the stream, its exit status and last error lines make
the error, and :meth:`~SshCommandStream.abort` closes the channel, which ends the remote tool (its next
write meets a closed pipe).
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, BinaryIO

import paramiko

from resguardo.backends._sftp_connect import Credentials, SftpLocation
from resguardo.core.errors import SourceError, TargetError
from resguardo.sources._process import OutputTail, killed_by

SECRET_PATH = '"$d/secret"'  # noqa: S105 - a file's path, not a secret
"""How a command names the private file holding the secret (a shell word, expanded remotely)."""
NOT_FOUND_STATUS = 127
SHELL_FAILED_STATUS = 125
SHORT_COMMAND_SECONDS = 120.0
_TRAPS = "trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM"


def remote_command(command: str, secret: str | None) -> str:
    """Return the line to execute for ``command`` (a shell command line, its words already quoted).

    With a ``secret``, the command first reads it from standard input into ``$d/secret`` (mode 0600,
    removed at exit); ``command`` refers to it as :data:`SECRET_PATH`.
    """
    lines = ["umask 077"]
    if secret is not None:
        size = len(secret.encode("utf-8"))
        lines += [
            f"d=$(mktemp -d) || exit {SHELL_FAILED_STATUS}",
            """trap 'rm -rf "$d"' EXIT""",
            _TRAPS,
            f'dd bs=1 count={size} of="$d/secret" 2>/dev/null || exit {SHELL_FAILED_STATUS}',
        ]
    lines.append(command)
    return "sh -c " + shlex.quote("\n".join(lines))


def assignments(variables: dict[str, str]) -> str:
    """Return ``NAME=value ...`` (values quoted) to put before a remote tool."""
    return " ".join(f"{name}={shlex.quote(value)}" for name, value in variables.items())


def describe_status(tool: str, status: int) -> str:
    """Return what an exit status of a remote tool means (128 + N: killed by signal N)."""
    if status < 0:
        return f"{tool} ended without an exit status (the SSH connection was lost)"
    if status > 128:
        return killed_by(tool, status - 128)
    return f"{tool} exited with code {status}"


def _tail(stream: IO[bytes]) -> OutputTail:
    """Drain one of a channel's outputs, keeping its last lines; a lost connection ends it quietly."""
    return OutputTail(stream, "ssh-stderr", (OSError, EOFError, paramiko.SSHException))


class SshCommands:
    """Runs commands on one client over an open, logged-in SSH transport.

    Args:
        transport: the transport (its owner closes it).
        where: the client, for messages (``backup@db1:22``).
    """

    def __init__(self, transport: paramiko.Transport, where: str) -> None:
        self.transport = transport
        self.where = where

    def _start(self, command: str, secret: str | None, tool: str) -> paramiko.Channel:
        """Open a channel running ``command`` with ``secret`` already sent. Raises SourceError."""
        try:
            channel = self.transport.open_session()
            channel.exec_command(remote_command(command, secret))
            if secret is not None:
                channel.sendall(secret.encode("utf-8"))
        except (EOFError, OSError, paramiko.SSHException) as error:
            raise SourceError(
                f"cannot run {tool} on {self.where}: "
                f"the SSH connection failed ({error or type(error).__name__})",
                "check the network and the client, then try again",
            ) from None
        return channel

    def error(self, tool: str, status: int, errors: str, hint: str = "") -> SourceError:
        """Return the SourceError for a remote tool that failed with ``status`` and ``errors``."""
        if status == NOT_FOUND_STATUS:
            return SourceError(
                f"{tool} is not installed on {self.where}" + (f" ({errors})" if errors else ""),
                hint or "install the database's client tools on the client",
            )
        detail = f": {errors}" if errors else ""
        return SourceError(f"{describe_status(tool, status)} on {self.where}{detail}", hint or None)

    def run(
        self,
        command: str,
        *,
        tool: str,
        secret: str | None = None,
        hint: str = "",
        timeout: float = SHORT_COMMAND_SECONDS,
    ) -> str:
        """Run a short command to its end and return its standard output as text.

        Raises:
            SourceError: the connection failed, the command did not end within ``timeout`` seconds, or
                it exited non-zero (its last error lines in the message).
        """
        channel = self._start(command, secret, tool)
        try:
            channel.shutdown_write()
            channel.settimeout(timeout)
            stderr = _tail(channel.makefile_stderr("rb"))
            output = channel.makefile("rb").read()
            status = channel.recv_exit_status()
            errors = stderr.text()
        except TimeoutError:
            raise SourceError(f"{tool} did not answer within {timeout:.0f} seconds on {self.where}") from None
        except (EOFError, OSError, paramiko.SSHException) as error:
            raise SourceError(f"the SSH connection to {self.where} was lost: {error}") from None
        finally:
            channel.close()
        if status != 0:
            raise self.error(tool, status, errors, hint)
        return bytes(output).decode("utf-8", errors="replace")

    def stream(
        self, command: str, *, tool: str, secret: str | None = None, hint: str = ""
    ) -> SshCommandStream:
        """Start ``command``; return its standard output as an ``OpenStream``. Raises SourceError."""
        return SshCommandStream(self, self._start(command, secret, tool), tool, hint)

    def feed(self, command: str, chunks: Iterable[bytes], *, tool: str, secret: str | None = None) -> None:
        """Run a restore tool with ``chunks`` on its standard input (after the secret), and wait for it.

        Raises:
            TargetError: the tool cannot be run, is missing, stops reading early, or exits non-zero.
            ResguardoError: reading ``chunks`` failed (a damaged blob); the channel is closed.
        """
        try:
            channel = self._start(command, secret, tool)
        except SourceError as error:
            raise TargetError(error.message, error.hint) from None
        stderr = _tail(channel.makefile_stderr("rb"))
        _tail(channel.makefile("rb"))  # drained, so that a talkative tool never blocks
        try:
            for chunk in chunks:
                channel.sendall(chunk)
            channel.shutdown_write()
        except (EOFError, OSError, paramiko.SSHException):
            pass  # the tool stopped reading: its exit status and messages say why
        except BaseException:
            channel.close()
            raise
        status = channel.recv_exit_status()
        errors = stderr.text()
        channel.close()
        if status != 0:
            failure = self.error(tool, status, errors or "no message")
            raise TargetError(failure.message, failure.hint)


class SshCommandStream:
    """A remote tool whose standard output is one stream of a backup (an ``OpenStream`` of the engine)."""

    def __init__(self, commands: SshCommands, channel: paramiko.Channel, tool: str, hint: str) -> None:
        self.commands = commands
        self.channel = channel
        self.tool = tool
        self.hint = hint
        channel.shutdown_write()
        self.stderr = _tail(channel.makefile_stderr("rb"))
        self._reader: BinaryIO = channel.makefile("rb")
        self.aborted = False

    @property
    def reader(self) -> BinaryIO:
        """The tool's standard output, as it arrives over the channel."""
        return self._reader

    def finish(self) -> None:
        """Wait for the remote tool, which has closed its output.

        Raises:
            SourceError: it exited non-zero or was killed, or the connection was lost.
        """
        status = self.channel.recv_exit_status()
        errors = self.stderr.text()
        self.channel.close()
        if status != 0:
            raise self.commands.error(self.tool, status, errors, self.hint)

    def abort(self) -> None:
        """Close the channel (the remote tool ends at its next write); never raises."""
        self.aborted = True
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            self.channel.close()


@dataclass(frozen=True, slots=True)
class SshCommandOpener:
    """Starts a remote dump when the backup reads its stream (a ``StreamSource.open``)."""

    commands: SshCommands
    command: str
    tool: str
    secret: str | None = field(default=None, repr=False)
    hint: str = ""

    def __call__(self) -> SshCommandStream:
        """Start the remote tool. Raises SourceError when the channel cannot be opened."""
        return self.commands.stream(self.command, tool=self.tool, secret=self.secret, hint=self.hint)


class SshClientConnection:
    """A logged-in SSH connection to a client (host key checked), counting the bytes it carries.

    A context manager; :attr:`commands` runs commands there.

    Args:
        location: the user, host and port.
        credentials: the key to log in with and the host keys to trust.
    """

    def __init__(self, location: SftpLocation, credentials: Credentials) -> None:
        from resguardo.sources.sshtree import SshTreeSource

        self.tree = SshTreeSource(location, credentials)

    def __enter__(self) -> SshClientConnection:
        """Connect and log in.

        Raises:
            SourceError: unreachable, unknown or changed host key, or the key was refused.
            ConfigurationError: no usable key.
        """
        self.tree.connect()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.tree.close()

    @property
    def commands(self) -> SshCommands:
        """The command runner on this connection."""
        assert self.tree.transport is not None, "connect first"
        return SshCommands(self.tree.transport, self.tree.address)

    def bytes_received(self) -> int:
        """Return the bytes received over the network so far (below the encryption)."""
        return self.tree.transfer_counts()["network_bytes_received"]
