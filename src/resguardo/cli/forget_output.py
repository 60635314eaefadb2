"""How ``forget`` shows its decisions to people: a heading and a Rich table per group of snapshots.

Times are shown as the snapshot recorded them, with their offset from UTC, because the retention
rules read days, weeks and months from that time (see :mod:`resguardo.engine.retention`).
"""

from __future__ import annotations

import io
import shutil
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resguardo.engine.retention import GroupDecision

_WIDTH_OFF_TERMINAL = 10_000
"""Rendering width when standard output is not a terminal: never wrap, so that each row stays one line."""


def recorded_time(moment: datetime) -> str:
    """Return a time as recorded, e.g. ``2026-11-20 14:05:09 UTC`` or ``2026-11-20 14:05:09 +10:00``."""
    offset = moment.utcoffset()
    if offset is None:
        zone = ""
    elif offset == timedelta(0):
        zone = " UTC"
    else:
        sign = "-" if offset < timedelta(0) else "+"
        minutes = abs(int(offset.total_seconds())) // 60
        zone = f" {sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return moment.strftime("%Y-%m-%d %H:%M:%S") + zone


def describe_group(group: GroupDecision, by_policy: bool) -> str:
    """Return the heading of one group: what its snapshots share, and how many are kept and removed."""
    counts = f"keep {len(group.kept)}, remove {len(group.removed)}"
    if not by_policy:
        return f"snapshots named: {counts}"
    key = group.key
    parts = []
    if key.hostname is not None:
        parts.append(f"host {key.hostname}")
    if key.paths is not None:
        parts.append(f"paths {', '.join(key.paths) or '(none)'}")
    if key.tags is not None:
        parts.append(f"tags {', '.join(key.tags) or '(none)'}")
    title = "; ".join(parts) if parts else "all snapshots (one group)"
    return f"{title}: {counts}"


def render_group(group: GroupDecision) -> str:
    """Return the table of one group: ID, time, host, tags, keep or remove, and the reasons, newest first."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, highlight=False)
    for header in ("ID", "Time", "Host", "Tags", "Action", "Reasons"):
        table.add_column(header, no_wrap=header in ("ID", "Time", "Action"))
    for decision in group.decisions:
        snapshot = decision.snapshot
        action = Text("keep", style="green") if decision.keep else Text("remove", style="bold red")
        table.add_row(
            Text(snapshot.short_id),
            Text(recorded_time(snapshot.time)),
            Text(snapshot.hostname),
            Text(", ".join(snapshot.tags)),
            action,
            Text("\n".join(decision.reasons)),
        )
    terminal = sys.stdout.isatty()
    width = shutil.get_terminal_size().columns if terminal else _WIDTH_OFF_TERMINAL
    buffer = io.StringIO()
    Console(file=buffer, width=width, force_terminal=terminal, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").splitlines())
