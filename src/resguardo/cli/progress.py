"""Progress of long operations: engine events shown as a progress bar, as JSON lines, or not at all.

* JSON mode: one ``{"message_type": "status", ...}`` line at most every :data:`JSON_STATUS_INTERVAL`
  seconds, and one ``{"message_type": "warning", ...}`` line per warning.
* A terminal on standard error (and not ``--quiet``): a Rich progress bar with the rate and, once the
  totals are known, the time remaining; it disappears when the operation ends. Rich is imported only then.
* Otherwise: no progress at all, only warnings on standard error.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from resguardo.cli.output import Output
from resguardo.engine.events import Event, ItemWarning, Progress, Reporter

JSON_STATUS_INTERVAL = 1.0


def shows_bar(output: Output) -> bool:
    """Return True when progress is drawn as a bar: text mode, not quiet, standard error a terminal."""
    if output.json_mode or output.quiet:
        return False
    try:
        return sys.stderr.isatty()
    except (ValueError, AttributeError):
        return False


def status_document(event: Progress, elapsed: float) -> dict[str, Any]:
    """Return the fields of a JSON ``status`` line for a progress event."""
    if event.bytes_total:
        percent: float | None = min(1.0, event.bytes_done / event.bytes_total)
    elif event.files_total:
        percent = min(1.0, event.files_done / event.files_total)
    else:
        percent = None
    return {
        "operation": event.operation,
        "seconds_elapsed": round(elapsed, 3),
        "percent_done": None if percent is None else round(percent, 4),
        "files_done": event.files_done,
        "files_total": event.files_total,
        "bytes_done": event.bytes_done,
        "bytes_total": event.bytes_total,
        "current": event.current,
    }


class _JsonReporter:
    """Writes status lines (throttled) and warning lines."""

    def __init__(self, output: Output, show_warnings: bool) -> None:
        self.output = output
        self.show_warnings = show_warnings
        self.started = time.monotonic()
        self.last = -JSON_STATUS_INTERVAL
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if isinstance(event, ItemWarning):
            if self.show_warnings:
                self.output.warning(event.message, path=event.path, operation=event.operation)
            return
        now = time.monotonic()
        with self.lock:
            if now - self.last < JSON_STATUS_INTERVAL:
                return
            self.last = now
        self.output.json_line("status", status_document(event, now - self.started))


def _warnings_only(output: Output, show_warnings: bool) -> Reporter:
    """Return a reporter that prints warnings and ignores progress."""

    def report(event: Event) -> None:
        if show_warnings and isinstance(event, ItemWarning):
            output.warning(event.message, path=event.path, operation=event.operation)

    return report


@contextmanager
def _bar(output: Output, operation: str, unit: str, show_warnings: bool) -> Iterator[Reporter]:
    """Show a Rich progress bar on standard error while the block runs; yield its reporter."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as Bar

    console = Console(stderr=True, highlight=False)
    bar = Bar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[count]}"),
        console=console,
        transient=True,
        redirect_stdout=False,
    )
    task = bar.add_task(operation, total=None, count="")

    def report(event: Event) -> None:
        if isinstance(event, ItemWarning):
            if show_warnings:
                text = (
                    f"warning: {event.path}: {event.message}" if event.path else f"warning: {event.message}"
                )
                console.print(text, markup=False, highlight=False, soft_wrap=True)
            return
        if unit:
            total = f"/{event.files_total}" if event.files_total is not None else ""
            count = f"{event.files_done}{total} {unit}"
        else:
            count = f"{event.current} {event.files_done}"
        bar.update(task, completed=event.bytes_done, total=event.bytes_total, count=count)

    with bar:
        yield report


@contextmanager
def reporting(
    output: Output, operation: str, *, unit: str = "files", show_warnings: bool = True
) -> Iterator[Reporter]:
    """Yield the reporter to give the engine for one long operation, and clean up after it.

    Args:
        output: the command's output settings.
        operation: the name shown beside the bar (``backup``, ``restore``, ``check``).
        unit: what ``files_done`` counts, shown beside the bar; empty to show the event's stage instead.
        show_warnings: print the engine's warnings as they come (off when the command lists them itself).
    """
    if output.json_mode:
        yield _JsonReporter(output, show_warnings)
    elif shows_bar(output):
        with _bar(output, operation, unit, show_warnings) as report:
            yield report
    else:
        yield _warnings_only(output, show_warnings)
