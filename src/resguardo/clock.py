"""The one place that asks the system what time it is, so that tests can substitute a fake clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Return seconds from an arbitrary start, never going backwards."""
        ...


class SystemClock:
    """The real clock of the machine."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return seconds from an arbitrary start, never going backwards."""
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to; for tests.

    Args:
        start: the time the clock shows first (timezone-aware).
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._now = start
        self._monotonic = 0.0

    def now(self) -> datetime:
        """Return the time the clock was set or advanced to."""
        return self._now

    def monotonic(self) -> float:
        """Return the seconds advanced since the clock was made."""
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        from datetime import timedelta

        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds


SYSTEM_CLOCK: Clock = SystemClock()
