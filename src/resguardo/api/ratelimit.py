"""Login rate limiting: after N failed logins for one user from one address within a window, refuse more.

Counts live in the process's memory (one server process serves the API); a restart forgets them,
which is acceptable for slowing down password guessing.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

MAX_TRACKED_KEYS = 10_000


class LoginLimiter:
    """Counts failed logins per (username, address).

    Args:
        allowed: failures allowed within ``window``; the next attempt is refused.
        window: how far back failures count.
    """

    def __init__(self, allowed: int, window: timedelta) -> None:
        self.allowed = allowed
        self.window = window
        self._failures: dict[tuple[str, str], deque[datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: datetime) -> deque[datetime]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, username: str, address: str, now: datetime) -> int:
        """Return 0 when a login may be tried now, else the seconds to wait."""
        key = (username.casefold(), address)
        with self._lock:
            failures = self._recent(key, now)
            if len(failures) < self.allowed:
                return 0
            wait = failures[0] + self.window - now
        return max(1, int(wait.total_seconds() + 0.999))

    def failed(self, username: str, address: str, now: datetime) -> None:
        """Record a failed login."""
        key = (username.casefold(), address)
        with self._lock:
            if len(self._failures) >= MAX_TRACKED_KEYS:
                self._forget_old(now)
            failures = self._recent(key, now)
            failures.append(now)
            self._failures[key] = failures

    def succeeded(self, username: str, address: str) -> None:
        """Forget the failures of a user and address after a successful login."""
        with self._lock:
            self._failures.pop((username.casefold(), address), None)

    def _forget_old(self, now: datetime) -> None:
        for key in list(self._failures):
            if not self._recent(key, now):
                del self._failures[key]
        if len(self._failures) >= MAX_TRACKED_KEYS:
            self._failures.clear()
