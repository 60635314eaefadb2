"""What the engine tells its caller while it works: progress and warnings, through one callback.

The engine never prints. A face (the CLI, the service) passes a ``Reporter`` and decides how to
show each event: a progress bar on a terminal, JSON lines for a program, a log for the service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from resguardo.clock import SYSTEM_CLOCK, Clock


@dataclass(frozen=True, slots=True)
class Progress:
    """How far an operation has come; totals are None while still unknown."""

    operation: str
    files_done: int
    bytes_done: int
    files_total: int | None = None
    bytes_total: int | None = None
    current: str = ""


@dataclass(frozen=True, slots=True)
class ItemWarning:
    """Something went wrong with one item, and the operation goes on without it."""

    operation: str
    path: str
    message: str


Event = Progress | ItemWarning
Reporter = Callable[[Event], None]


def ignore_events(_event: Event) -> None:
    """A reporter that discards everything."""


class ProgressThrottle:
    """Lets a Progress event through at most every ``interval`` seconds.

    Args:
        reporter: where events go.
        interval: minimum seconds between two progress events.
        clock: source of monotonic time.
    """

    def __init__(self, reporter: Reporter, interval: float = 0.1, clock: Clock = SYSTEM_CLOCK) -> None:
        self.reporter = reporter
        self.interval = interval
        self.clock = clock
        self._last = -interval

    def due(self) -> bool:
        """Return True (and restart the interval) when the next progress event may be sent."""
        now = self.clock.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False
