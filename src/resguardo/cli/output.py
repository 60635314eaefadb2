"""What the CLI writes, and where: text for people, JSON for programs, messages on standard error.

* Human mode (the default): results on standard output; warnings and errors on standard error as
  ``warning: ...``, ``error: ...`` and ``hint: ...`` lines.
* JSON mode (``--json``): standard output carries only JSON. Listings print one JSON document; long
  operations print one object per line (``status``, ``warning``, then ``summary``), each with a
  ``message_type``. Errors go to standard error as ``{"message_type": "error", ...}``.

Streams are looked up at each write (not kept), so that tests which swap ``sys.stdout`` see the output.
Writes are serialized with a lock: the engine reports from several threads.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_size(size: float) -> str:
    """Return a byte count in binary units, e.g. ``"1.5 MiB"``."""
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """Return a duration as ``"0.53 s"``, ``"2:05"`` (minutes) or ``"1:02:05"`` (hours)."""
    if seconds < 60:
        return f"{seconds:.2f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_time(moment: datetime) -> str:
    """Return a moment in the local time zone as ``"YYYY-MM-DD HH:MM:SS"``."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """Return a plain-text table: a header, a rule, and one line per row (a cell may hold line breaks).

    Args:
        headers: the column titles.
        rows: the cells, as text.
        right: indexes of the columns to align right (numbers).
    """
    lines_per_row = [[cell.split("\n") for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in lines_per_row:
        for column, cell_lines in enumerate(row):
            widths[column] = max(widths[column], *(len(line) for line in cell_lines))

    def render(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[column]) if column in right else cell.ljust(widths[column])
            for column, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    output = [render(headers), "-" * (sum(widths) + 2 * (len(widths) - 1))]
    for row in lines_per_row:
        height = max(len(cell_lines) for cell_lines in row)
        for line in range(height):
            output.append(render([cell_lines[line] if line < len(cell_lines) else "" for cell_lines in row]))
    return "\n".join(output)


class Output:
    """The output settings of one command run, and the methods that write.

    Args:
        json_mode: print JSON on standard output instead of text (``--json``).
        quiet: print no progress and no summaries, only results, warnings and errors (``--quiet``).
        verbose: print more detail, and tracebacks of unexpected errors (``--verbose``).
    """

    def __init__(self, *, json_mode: bool = False, quiet: bool = False, verbose: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.verbose = verbose
        self.lock = threading.Lock()

    # -- low level --------------------------------------------------------------------------

    def _write(self, stream: TextIO, text: str) -> None:
        with self.lock:
            stream.write(text + "\n")
            stream.flush()

    def json_line(self, message_type: str, document: dict[str, Any]) -> None:
        """Print one JSON object on one line of standard output, with its ``message_type`` first."""
        self._write(sys.stdout, json.dumps({"message_type": message_type, **document}, default=str))

    def json_document(self, document: object) -> None:
        """Print a whole JSON document (a listing) on standard output."""
        self._write(sys.stdout, json.dumps(document, indent=2, default=str))

    # -- text -------------------------------------------------------------------------------

    def result(self, text: str) -> None:
        """Print a result line for people (a listing, a table); nothing in JSON mode."""
        if not self.json_mode:
            self._write(sys.stdout, text)

    def summary(self, text: str) -> None:
        """Print a summary for people; nothing in JSON or quiet mode."""
        if not self.json_mode and not self.quiet:
            self._write(sys.stdout, text)

    def warning(self, message: str, *, path: str = "", operation: str = "") -> None:
        """Report something that went wrong without stopping the command.

        Text goes to standard error (above the progress bar, which redirects it while shown); in
        JSON mode a ``warning`` line goes to standard output, among the status lines.
        """
        if self.json_mode:
            self.json_line("warning", {"operation": operation, "path": path, "message": message})
            return
        text = f"warning: {path}: {message}" if path else f"warning: {message}"
        self._write(sys.stderr, text)

    def error(self, code: int, message: str, hint: str = "") -> None:
        """Report the error that ends the command, on standard error (one line, and a hint line)."""
        if self.json_mode:
            document = {"message_type": "error", "code": code, "message": message, "hint": hint}
            self._write(sys.stderr, json.dumps(document))
            return
        self._write(sys.stderr, f"error: {message}" + (f"\nhint: {hint}" if hint else ""))
