"""The comparison of a backup's figures with those of its job's last successful run (R12).

:func:`compare` returns one :class:`Reason` per anomaly, worded for a person, with the figures behind
it. A change warns when it reaches the threshold (``|new - old| * 100 >= threshold * old``), up or
down; figures the earlier run lacks (a first run, a stream or table it did not have, an older snapshot
without content IDs) are not compared. A file backup compares its bytes and files; a backup of
database dumps compares each dump's size, its tables' rows and bytes (when its source records them;
tables smaller than :data:`MIN_TABLE_ROWS` rows or :data:`MIN_TABLE_BYTES` bytes in the last run are
left out, as a few rows more or less there mean nothing), notes a dump that is gone, and warns when a
database's dump has stayed byte-identical for ``unchanged_dump_days`` calendar days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from resguardo.services.connectivity.report import human_size
from resguardo.services.verification.thresholds import Thresholds

MIN_TABLE_ROWS = 100
MIN_TABLE_BYTES = 1024 * 1024
MAX_NAMED_TABLES = 5


@dataclass(frozen=True)
class Reason:
    """Why a verification did not simply pass.

    Attributes:
        code: a stable name (``size_changed``, ``files_changed``, ``dump_size_changed``, ``dump_missing``,
            ``table_rows_changed``, ``table_bytes_changed``, ``tables_missing``, ``dump_unchanged``,
            ``integrity_failed``).
        message: the sentence shown to people.
        figures: the numbers behind it.
    """

    code: str
    message: str
    figures: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """Return the reason as a JSON-ready map."""
        return {"code": self.code, "message": self.message, "figures": self.figures}


def reaches(old: int, new: int, percent: int) -> bool:
    """Return True when ``old`` → ``new`` changes by at least ``percent`` percent (never for ``old`` 0)."""
    return old > 0 and abs(new - old) * 100 >= percent * old


def change_percent(old: int, new: int) -> int:
    """Return the change from ``old`` (> 0) to ``new`` in whole percent, rounded, without sign."""
    return round(abs(new - old) * 100 / old)


def compare(
    previous: Mapping[str, Any] | None, current: Mapping[str, Any], thresholds: Thresholds
) -> list[Reason]:
    """Compare a backup's figures with the last successful run's (see :mod:`.figures` for their form).

    Args:
        previous: the last successful run's figures (None: there is none; only dumps' ages are checked).
        current: this run's figures.
        thresholds: the job's thresholds.

    Returns:
        the anomalies found, in a stable order; empty when nothing looks unusual.
    """
    reasons: list[Reason] = []
    streams: Mapping[str, Any] = current.get("streams") or {}
    if previous is not None:
        if streams:
            earlier: Mapping[str, Any] = previous.get("streams") or {}
            for name, stream in sorted(streams.items()):
                if name in earlier:
                    reasons.extend(_stream_reasons(earlier[name], stream, thresholds))
            reasons.extend(_missing_dumps(earlier, streams))
        else:
            reasons.extend(_total_reasons(previous, current, thresholds))
    reasons.extend(_unchanged_dumps(current, thresholds))
    return reasons


def _total_reasons(
    previous: Mapping[str, Any], current: Mapping[str, Any], thresholds: Thresholds
) -> list[Reason]:
    reasons = []
    old, new = int(previous.get("bytes", 0)), int(current.get("bytes", 0))
    if reaches(old, new, thresholds.size_change_percent):
        direction = "smaller" if new < old else "larger"
        reasons.append(
            Reason(
                "size_changed",
                f"the backup is {change_percent(old, new)}% {direction} than the last one "
                f"({human_size(old)} → {human_size(new)})",
                {"before": old, "after": new, "threshold_percent": thresholds.size_change_percent},
            )
        )
    old, new = int(previous.get("files", 0)), int(current.get("files", 0))
    if reaches(old, new, thresholds.file_count_change_percent):
        direction = "fewer" if new < old else "more"
        reasons.append(
            Reason(
                "files_changed",
                f"the backup has {change_percent(old, new)}% {direction} files than the last one "
                f"({old:,} → {new:,})",
                {"before": old, "after": new, "threshold_percent": thresholds.file_count_change_percent},
            )
        )
    return reasons


def _stream_reasons(
    earlier: Mapping[str, Any], stream: Mapping[str, Any], thresholds: Thresholds
) -> list[Reason]:
    reasons = []
    database = str(stream.get("database", ""))
    old, new = int(earlier.get("size", 0)), int(stream.get("size", 0))
    if reaches(old, new, thresholds.size_change_percent):
        direction = "smaller" if new < old else "larger"
        reasons.append(
            Reason(
                "dump_size_changed",
                f"the dump of `{database}` is {change_percent(old, new)}% {direction} than the last one "
                f"({human_size(old)} → {human_size(new)})",
                {
                    "database": database,
                    "before": old,
                    "after": new,
                    "threshold_percent": thresholds.size_change_percent,
                },
            )
        )
    old_tables, new_tables = earlier.get("tables"), stream.get("tables")
    if isinstance(old_tables, Mapping) and isinstance(new_tables, Mapping):
        reasons.extend(_table_reasons(database, old_tables, new_tables, thresholds.size_change_percent))
    return reasons


def _table_reasons(
    database: str, earlier: Mapping[str, Any], tables: Mapping[str, Any], percent: int
) -> list[Reason]:
    reasons = []
    gone = sorted(name for name in earlier if name not in tables)
    if gone:
        reasons.append(
            Reason(
                "tables_missing",
                f"{_tables_count(len(gone))} of `{database}` {'is' if len(gone) == 1 else 'are'} not in its "
                f"dump any more ({_named(gone)})",
                {"database": database, "tables": gone},
            )
        )
    for measure, minimum, unit in (("rows", MIN_TABLE_ROWS, "rows"), ("bytes", MIN_TABLE_BYTES, "size")):
        for shrinking in (True, False):
            changed = _changed_tables(earlier, tables, measure, minimum, percent, shrinking=shrinking)
            if changed:
                reasons.append(_tables_reason(database, measure, unit, changed, percent, shrinking=shrinking))
    return reasons


def _changed_tables(
    earlier: Mapping[str, Any],
    tables: Mapping[str, Any],
    measure: str,
    minimum: int,
    percent: int,
    *,
    shrinking: bool,
) -> dict[str, tuple[int, int]]:
    """Return the tables whose ``measure`` shrank (or grew) by ``percent`` or more: name → (before, after)."""
    changed = {}
    for name in sorted(set(earlier) & set(tables)):
        old, new = earlier[name].get(measure), tables[name].get(measure)
        if not isinstance(old, int) or not isinstance(new, int) or old < minimum:
            continue
        if (new < old) == shrinking and reaches(old, new, percent):
            changed[name] = (old, new)
    return changed


def _tables_reason(
    database: str,
    measure: str,
    unit: str,
    changed: dict[str, tuple[int, int]],
    percent: int,
    *,
    shrinking: bool,
) -> Reason:
    show = human_size if measure == "bytes" else (lambda value: f"{value:,}")
    details = [f"{name} {show(old)} → {show(new)}" for name, (old, new) in changed.items()]
    if measure == "rows":
        their = "its" if len(changed) == 1 else "their"
        verb = f"lost {percent}% or more of {their} rows" if shrinking else f"gained {percent}% or more rows"
    else:
        verb = f"shrank by {percent}% or more" if shrinking else f"grew by {percent}% or more"
    return Reason(
        f"table_{measure}_changed",
        f"{_tables_count(len(changed))} of `{database}` {verb} ({_named(details)})",
        {
            "database": database,
            "measure": unit,
            "direction": "down" if shrinking else "up",
            "tables": {name: {"before": old, "after": new} for name, (old, new) in changed.items()},
            "threshold_percent": percent,
        },
    )


def _missing_dumps(earlier: Mapping[str, Any], streams: Mapping[str, Any]) -> list[Reason]:
    reasons = []
    for name in sorted(set(earlier) - set(streams)):
        database, size = str(earlier[name].get("database", name)), int(earlier[name].get("size", 0))
        reasons.append(
            Reason(
                "dump_missing",
                f"there is no dump of `{database}` this time (the last one was {human_size(size)})",
                {"database": database, "stream": name, "before": size},
            )
        )
    return reasons


def _unchanged_dumps(current: Mapping[str, Any], thresholds: Thresholds) -> list[Reason]:
    days = thresholds.unchanged_dump_days
    finished = current.get("finished_at")
    if days <= 0 or not finished:
        return []
    today = datetime.fromisoformat(str(finished)).date()
    reasons = []
    for name, stream in sorted((current.get("streams") or {}).items()):
        since_text = stream.get("unchanged_since")
        if (
            not str(stream.get("kind", "")).endswith(".database")
            or not stream.get("content_id")
            or not since_text
        ):
            continue
        since = datetime.fromisoformat(str(since_text)).date()
        if (today - since).days >= days:
            database = str(stream.get("database", name))
            reasons.append(
                Reason(
                    "dump_unchanged",
                    f"nothing seems to be written to `{database}`: "
                    f"its dump has not changed since {since.isoformat()}",
                    {
                        "database": database,
                        "since": since.isoformat(),
                        "days": (today - since).days,
                        "threshold_days": days,
                    },
                )
            )
    return reasons


def _tables_count(count: int) -> str:
    return f"{count} table" if count == 1 else f"{count} tables"


def _named(items: list[str]) -> str:
    more = len(items) - MAX_NAMED_TABLES
    return "; ".join(items[:MAX_NAMED_TABLES]) + (f"; and {more} more" if more > 0 else "")


__all__ = ["MIN_TABLE_BYTES", "MIN_TABLE_ROWS", "Reason", "change_percent", "compare", "reaches"]
