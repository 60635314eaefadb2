"""A run's figures: what its backup held, recorded on the run for the next run's comparison.

The figures are a JSON map (``runs.verification_figures``)::

    {"bytes": 123, "files": 4, "finished_at": "2026-12-14T01:00:00+00:00",
     "streams": {"postgresql/nomina.pgdump": {"database": "nomina", "size": 120, "content_id": "ab…",
                 "unchanged_since": "2026-12-12T01:00:03+00:00",
                 "tables": {"public.empleados": {"rows": 10, "bytes": 8192}}, "tables_exact": 1}}}

``streams`` is empty for a file backup. ``content_id`` comes from the snapshot (equal exactly when the
dump's bytes are); ``unchanged_since`` is when the dump last changed, carried over from run to run
while its content stays the same; ``tables`` comes from the dump's description when its source gives
it (a JSON text there), and is absent otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any


def run_figures(
    summary: Mapping[str, int | float],
    streams: Sequence[Mapping[str, str | int]],
    now: datetime,
    previous: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Return the figures of a backup.

    Args:
        summary: the snapshot's summary (``total_bytes_processed``, ``total_files_processed``).
        streams: the snapshot's stream descriptions (empty for a file backup).
        now: when the run ends.
        previous: the figures of the job's last successful run (None: none), for ``unchanged_since``.

    Returns:
        the figures, ready to store as JSON.
    """
    earlier_streams = dict((previous or {}).get("streams") or {})
    return {
        "bytes": int(summary.get("total_bytes_processed", 0)),
        "files": int(summary.get("total_files_processed", 0)),
        "finished_at": now.isoformat(),
        "streams": {
            str(stream["name"]): _stream_figures(stream, now, earlier_streams.get(str(stream["name"])))
            for stream in streams
            if "name" in stream
        },
    }


def _stream_figures(
    stream: Mapping[str, str | int], now: datetime, earlier: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Return one stream's figures; ``earlier`` is the same stream's in the last run (None: none)."""
    content_id = str(stream.get("content_id", ""))
    since = now.isoformat()
    if earlier is not None and content_id and earlier.get("content_id") == content_id:
        since = str(earlier.get("unchanged_since") or since)
    figures: dict[str, Any] = {
        "database": str(stream.get("database") or stream["name"]),
        "kind": str(stream.get("kind", "")),
        "size": int(stream.get("size", 0)),
        "content_id": content_id,
        "unchanged_since": since,
    }
    tables = _tables(stream.get("tables"))
    if tables is not None:
        figures["tables"] = tables
        figures["tables_exact"] = int(stream.get("tables_exact", 0) or 0)
    return figures


def _tables(text: str | int | None) -> dict[str, dict[str, int]] | None:
    """Return the per-table figures a dump's description gives as JSON text (None: none, or unreadable)."""
    if not isinstance(text, str):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    tables: dict[str, dict[str, int]] = {}
    for name, values in document.items():
        if isinstance(values, dict):
            tables[str(name)] = {
                key: int(values[key]) for key in ("rows", "bytes") if isinstance(values.get(key), int)
            }
    return tables


__all__ = ["run_figures"]
