"""Dump and restore tools run as child processes: their output streamed, their errors kept short.

Credentials never appear on a command line: callers put them in the child's environment or in a
private option file (see :mod:`resguardo.sources._private`).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from resguardo.core.errors import SourceError, TargetError

STDERR_LINES_KEPT = 12
WAIT_AFTER_KILL_SECONDS = 30


def killed_by(tool: str, signal_number: int) -> str:
    """Return ``TOOL was killed by SIGNAME`` for a tool ended by ``signal_number``."""
    try:
        name = signal.Signals(signal_number).name
    except ValueError:
        name = f"signal {signal_number}"
    return f"{tool} was killed by {name}"


def _describe_exit(tool: str, returncode: int) -> str:
    if returncode < 0:
        return killed_by(tool, -returncode)
    return f"{tool} exited with code {returncode}"


class OutputTail:
    """Drains one output of a tool on a thread, keeping its last lines (its standard error, mostly).

    Args:
        stream: the output; closed when it ends.
        thread_name: the draining thread's name.
        ignored: errors that end the draining quietly (a lost connection, for a remote tool).
    """

    def __init__(
        self,
        stream: IO[bytes],
        thread_name: str = "stderr-tail",
        ignored: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.lines: deque[str] = deque(maxlen=STDERR_LINES_KEPT)
        self.ignored = ignored
        self.thread = threading.Thread(target=self._drain, args=(stream,), name=thread_name, daemon=True)
        self.thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        with contextlib.suppress(*self.ignored), stream:
            for line in stream:
                text = line.decode("utf-8", errors="replace").strip()
                if text:
                    self.lines.append(text)

    def text(self, timeout: float = WAIT_AFTER_KILL_SECONDS) -> str:
        """Return the kept lines joined with ``; `` once the output ended (or ``timeout`` passed)."""
        self.thread.join(timeout=timeout)
        return "; ".join(self.lines)


def _start(
    arguments: Sequence[str], environment: Mapping[str, str], stdin: int | None
) -> subprocess.Popen[bytes]:
    """Start a tool; raise SourceError naming it when it cannot be run at all."""
    try:
        return subprocess.Popen(  # noqa: S603 - a fixed tool with arguments we built, no shell
            list(arguments),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(environment),
        )
    except OSError as error:
        raise SourceError(
            f"cannot run {arguments[0]}: {error.strerror or error}",
            "install the client tools of this database",
        ) from None


class CommandStream:
    """A tool whose standard output is one stream of a backup (an ``OpenStream`` of the engine).

    Args:
        arguments: the command line (no credentials in it).
        environment: the child's whole environment.
        tool: the name used in messages (``pg_dump``).
        hint: what to do when the tool fails.

    Raises:
        SourceError: the tool cannot be started.
    """

    def __init__(
        self, arguments: Sequence[str], environment: Mapping[str, str], tool: str, hint: str = ""
    ) -> None:
        self.tool = tool
        self.hint = hint
        self.process = _start(arguments, environment, subprocess.DEVNULL)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.stderr = OutputTail(self.process.stderr)
        self._reader: BinaryIO = self.process.stdout  # type: ignore[assignment]
        self.aborted = False

    @property
    def reader(self) -> BinaryIO:
        """The tool's standard output."""
        return self._reader

    def finish(self) -> None:
        """Wait for the tool, which has closed its output.

        Raises:
            SourceError: the tool exited non-zero or was killed; the message ends with its last errors.
        """
        returncode = self.process.wait()
        self._reader.close()
        errors = self.stderr.text()
        if returncode != 0:
            detail = f": {errors}" if errors else ""
            raise SourceError(f"{_describe_exit(self.tool, returncode)}{detail}", self.hint or None)

    def abort(self) -> None:
        """Kill the tool (if still running) and wait for it; never raises."""
        self.aborted = True
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=WAIT_AFTER_KILL_SECONDS)
        with contextlib.suppress(OSError):
            self._reader.close()


@dataclass(frozen=True, slots=True)
class CommandOpener:
    """Starts a dump tool when the backup reads its stream (a ``StreamSource.open``).

    Attributes:
        arguments: the command line (no credentials in it).
        environment: the child's whole environment (it may name a password file).
        tool: the name used in messages.
        hint: what to do when the tool fails.
    """

    arguments: list[str]
    environment: dict[str, str] = field(repr=False)
    tool: str
    hint: str = ""

    def __call__(self) -> CommandStream:
        """Start the tool.

        Raises:
            SourceError: it cannot be started.
        """
        return CommandStream(self.arguments, self.environment, self.tool, self.hint)


def run_tool(
    arguments: Sequence[str], environment: Mapping[str, str], tool: str, *, timeout: float = 120
) -> str:
    """Run a short tool to its end and return its standard output as text.

    Raises:
        SourceError: the tool cannot be run, exits non-zero, or takes longer than ``timeout`` seconds.
    """
    try:
        result = subprocess.run(  # noqa: S603 - a fixed tool with arguments we built, no shell
            list(arguments),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=dict(environment),
            timeout=timeout,
            check=False,
        )
    except OSError as error:
        raise SourceError(
            f"cannot run {arguments[0]}: {error.strerror or error}",
            "install the client tools of this database",
        ) from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"{tool} did not answer within {timeout:.0f} seconds") from None
    if result.returncode != 0:
        errors = "; ".join(
            line.strip() for line in result.stderr.decode(errors="replace").splitlines() if line.strip()
        )
        raise SourceError(f"{_describe_exit(tool, result.returncode)}: {errors}")
    return result.stdout.decode("utf-8", errors="replace")


def feed_tool(
    arguments: Sequence[str], environment: Mapping[str, str], tool: str, chunks: Iterable[bytes]
) -> None:
    """Run a restore tool with ``chunks`` written to its standard input, and wait for it.

    Raises:
        TargetError: the tool cannot be run, stops reading early, or exits non-zero (with its last errors).
        ResguardoError: reading ``chunks`` failed (a damaged or missing blob); the tool is killed.
    """
    try:
        process = subprocess.Popen(  # noqa: S603 - a fixed tool with arguments we built, no shell
            list(arguments),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=dict(environment),
        )
    except OSError as error:
        raise TargetError(
            f"cannot run {arguments[0]}: {error.strerror or error}",
            "install the client tools of this database",
        ) from None
    assert process.stdin is not None and process.stderr is not None
    stderr = OutputTail(process.stderr)
    try:
        with process.stdin:
            for chunk in chunks:
                process.stdin.write(chunk)
    except BrokenPipeError:
        pass  # the tool stopped reading: its exit code and messages say why
    except BaseException:
        process.kill()
        process.wait()
        raise
    returncode = process.wait()
    errors = stderr.text()
    if returncode != 0:
        raise TargetError(f"{_describe_exit(tool, returncode)}: {errors or 'no message'}")
