"""Wall-clock times of a named time zone turned into instants, with daylight saving time handled.

A schedule says "02:30 in Europe/Madrid"; a run starts at an instant. On the night clocks spring forward
02:30 does not exist there: the run starts at the next valid instant, the moment the clocks jump (03:00
local). On the night they fall back 02:30 happens twice: the run starts once, at the first of the two.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def resolve_wall_time(day: date, wall_time: time, zone: ZoneInfo) -> datetime:
    """Return the instant (in UTC) at which the clocks of ``zone`` show ``wall_time`` on ``day``.

    Args:
        day: the local calendar date.
        wall_time: the local time of day (naive, no seconds needed).
        zone: the time zone whose clocks are read.

    Returns:
        A timezone-aware UTC datetime: the first occurrence of an ambiguous time (clocks falling back),
        or the instant of the transition for a time that does not exist (clocks springing forward).
    """
    first = datetime.combine(day, wall_time, tzinfo=zone)  # fold=0: the offset in force before a change
    instant = first.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == first.replace(tzinfo=None):
        return instant
    return _end_of_gap(first, zone)


def _end_of_gap(local: datetime, zone: ZoneInfo) -> datetime:
    """Return the UTC instant at which the clocks jump over the nonexistent local time ``local``.

    Reading ``local`` with the offset after the jump gives an instant before the jump, and with the
    offset before it an instant after: the transition lies between, found to the second by bisection.
    """
    before_jump = local.replace(fold=1).astimezone(UTC)
    after_jump = local.replace(fold=0).astimezone(UTC)
    offset_after = after_jump.astimezone(zone).utcoffset()
    low, high = before_jump, after_jump
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    """Return the calendar date the clocks of ``zone`` show at ``instant`` (timezone-aware)."""
    return instant.astimezone(zone).date()


def local_time(instant: datetime, zone: ZoneInfo) -> time:
    """Return the wall-clock time the clocks of ``zone`` show at ``instant`` (timezone-aware)."""
    return instant.astimezone(zone).time()
