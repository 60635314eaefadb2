"""A job's commands before and after its backup (``source.commands``), run on the job's client.

``{"before": "systemctl stop app", "after": "systemctl start app", "timeout_seconds": 300}``: the
command before quiesces what is backed up (stops writers, flushes a cache), the command after undoes it.
Each runs with ``/bin/sh -c`` on the client: on this machine for a ``local`` client, over SSH (the
client's sealed key, its stored host key) for an ``ssh`` one; its output goes to the run's log, line by
line (the first :data:`MAX_OUTPUT_LINES`); it is stopped at ``timeout_seconds``. A command before that
fails or times out fails the run and nothing is backed up; the command after runs once the backup is
over, whether it worked or not, and its failure is reported in the run's outcome.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from resguardo.catalog import SecretKey, Transport
from resguardo.catalog.models import Client
from resguardo.core.errors import SourceError

DEFAULT_TIMEOUT_SECONDS = 300
MAX_OUTPUT_LINES = 200
SSH_CONNECT_SECONDS = 15.0


@dataclass(frozen=True)
class JobCommands:
    """The commands of a job (empty text: none) and their time limit."""

    before: str = ""
    after: str = ""
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS

    @classmethod
    def of(cls, source: dict[str, Any]) -> JobCommands:
        """Return the commands of a job's source document (none when it has no ``commands``)."""
        commands = source.get("commands") or {}
        return cls(
            before=str(commands.get("before") or ""),
            after=str(commands.get("after") or ""),
            timeout_seconds=int(commands.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
        )


@dataclass(frozen=True)
class CommandResult:
    """How a command ended: its exit status (None: it was stopped at its time limit) and its output."""

    status: int | None
    output: str


def run_job_command(
    session: Session,
    key: SecretKey,
    client: Client,
    command: str,
    *,
    timeout_seconds: int,
    log: Callable[[str], None],
    when: str,
) -> None:
    """Run ``command`` on ``client``, its output logged as ``<when>: <line>``.

    Raises:
        SourceError: the command exited with another status than 0, or ran out of time, or the client
            could not be reached (the message says which and ends with the last line of output).
        ConfigurationError: an SSH client lacks its key or host key in the catalog.
    """
    log(f"{when}: running {command!r} on client {client.name!r} (limit {timeout_seconds} s)")
    if client.transport is Transport.LOCAL:
        result = _run_here(command, timeout_seconds)
    else:
        result = _run_over_ssh(session, key, client, command, timeout_seconds)
    lines = result.output.splitlines()
    for line in lines[:MAX_OUTPUT_LINES]:
        log(f"{when}: {line}")
    if len(lines) > MAX_OUTPUT_LINES:
        log(f"{when}: ({len(lines) - MAX_OUTPUT_LINES} more lines of output not kept)")
    if result.status == 0:
        return
    last = f"; its last line: {lines[-1]}" if lines else ""
    ending = (
        f"ran past its limit of {timeout_seconds} s" if result.status is None else f"exited {result.status}"
    )
    raise SourceError(
        f"the command {when} the backup {ending}{last}",
        "see the run's log for its output; fix the command or the job's source.commands",
    )


def _run_here(command: str, timeout_seconds: int) -> CommandResult:
    """Run ``command`` with /bin/sh on this machine; return how it ended."""
    try:
        done = subprocess.run(  # noqa: S603 (the job's own command, set by an operator)
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        output = expired.output.decode(errors="replace") if isinstance(expired.output, bytes) else ""
        return CommandResult(None, output)
    return CommandResult(done.returncode, done.stdout.decode(errors="replace"))


def _run_over_ssh(
    session: Session, key: SecretKey, client: Client, command: str, timeout_seconds: int
) -> CommandResult:
    """Run ``command`` on an SSH client with its sealed key; return how it ended.

    Raises:
        SourceError: the client cannot be reached, refuses the key, or offers another host key.
    """
    from resguardo.backends._sftp_connect import open_transport
    from resguardo.core.errors import StorageError
    from resguardo.services.run_sources import ssh_access

    location, credentials = ssh_access(session, key, client)
    try:
        transport = open_transport(location, credentials, SSH_CONNECT_SECONDS)
    except (StorageError, OSError) as error:
        raise SourceError(f"client {client.name!r} could not be reached over SSH: {error}") from None
    try:
        channel = transport.open_session(timeout=SSH_CONNECT_SECONDS)
        channel.set_combine_stderr(True)
        channel.settimeout(timeout_seconds)
        channel.exec_command(command)
        output = bytearray()
        try:
            while chunk := channel.recv(65536):
                output += chunk
        except TimeoutError:
            return CommandResult(None, output.decode(errors="replace"))
        return CommandResult(channel.recv_exit_status(), output.decode(errors="replace"))
    finally:
        transport.close()
