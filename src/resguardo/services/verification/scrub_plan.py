"""The rotation of a scrub: which packs this scrub reads so that every pack is read once per period.

A cycle starts with the packs stored at that moment. Packs are read in the order of their IDs; the
progress kept between scrubs (in the catalog, so that it survives restarts) is the cycle's number, when
it started, and a cursor: the last pack ID read. Each scrub reads the packs after the cursor, up to its
share of the bytes left, so that the cycle ends within its period: with a scrub every ``interval`` and
``remaining`` time left, the bytes left are spread over ``floor(remaining / interval)`` scrubs (at least
one), and a weekly scrub over a 30-day period reads a quarter or more each time. Packs added after the
cycle started are read in it when their ID is after the cursor, else in the next cycle. A cycle ends when
the cursor has passed every pack: every pack that existed at its start and still exists was read once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

END = "end"
"""The cursor of a cycle that has read every pack."""


@dataclass(frozen=True)
class ScrubSlice:
    """What one scrub reads, and the progress to store once it has.

    Attributes:
        packs: the pack IDs to read, in order.
        size: their bytes in all.
        progress: the cycle's progress after this slice (store it when the scrub finished).
        cycle_complete: this slice ends the cycle.
    """

    packs: list[bytes]
    size: int
    progress: dict[str, Any]
    cycle_complete: bool


def plan_slice(
    progress: Mapping[str, Any] | None,
    stored: Mapping[bytes, int],
    now: datetime,
    period: timedelta,
    interval: timedelta,
) -> ScrubSlice:
    """Return the slice of packs a scrub reads at ``now``.

    Args:
        progress: the stored progress (None, or a finished cycle: a new cycle starts).
        stored: every stored pack's ID and size.
        now: the time of the scrub (timezone-aware).
        period: every pack is read once within this time.
        interval: the time between two scheduled scrubs.
    """
    if progress is None or progress.get("cursor") == END:
        cycle = int(progress.get("cycle", 0)) + 1 if progress else 1
        progress = {
            "cycle": cycle,
            "started_at": now.isoformat(),
            "cursor": "",
            "packs_at_start": len(stored),
            "bytes_at_start": sum(stored.values()),
            "packs_read": 0,
            "bytes_read": 0,
        }
    cursor = bytes.fromhex(str(progress["cursor"]))
    remaining = sorted(pack_id for pack_id in stored if pack_id > cursor)
    remaining_bytes = sum(stored[pack_id] for pack_id in remaining)
    deadline = datetime.fromisoformat(str(progress["started_at"])) + period
    scrubs_left = max(1, math.floor((deadline - now) / interval)) if interval.total_seconds() > 0 else 1
    budget = math.ceil(remaining_bytes / scrubs_left)
    chosen: list[bytes] = []
    size = 0
    for pack_id in remaining:
        if chosen and size >= budget:
            break
        chosen.append(pack_id)
        size += stored[pack_id]
    complete = len(chosen) == len(remaining)
    after = dict(progress)
    after["cursor"] = END if complete else (chosen[-1].hex() if chosen else progress["cursor"])
    after["packs_read"] = int(progress["packs_read"]) + len(chosen)
    after["bytes_read"] = int(progress["bytes_read"]) + size
    if complete:
        after["completed_at"] = now.isoformat()
    return ScrubSlice(chosen, size, after, complete)
