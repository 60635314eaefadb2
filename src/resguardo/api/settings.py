"""What the API needs to run: where the catalog is, the secret key, the clock, and its security settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from resguardo.catalog import SecretKey, default_data_dir, load_secret_key
from resguardo.clock import Clock, SystemClock


@dataclass(frozen=True)
class ApiSettings:
    """Settings of one API application.

    Args:
        database_url: the catalog's URL (SQLite or PostgreSQL).
        data_dir: the data directory holding ``catalog.key`` when ``secret_key`` is not given.
        secret_key: the catalog's secret key (seals repository secrets and signs session cookies).
        clock: where the API reads the time (a fake clock in tests).
        cookie_secure: send the session cookie over HTTPS only (turn off only for plain-HTTP tests).
        session_lifetime: how long a login lasts.
        login_failures_allowed: failed logins per user and address within ``login_failure_window``
            before further attempts are refused with 429.
        login_failure_window: the window the failures are counted in.
    """

    database_url: str
    data_dir: Path | None = None
    secret_key: SecretKey | None = field(default=None, repr=False)
    clock: Clock = field(default_factory=SystemClock)
    cookie_secure: bool = True
    session_lifetime: timedelta = timedelta(hours=12)
    login_failures_allowed: int = 5
    login_failure_window: timedelta = timedelta(minutes=1)

    def resolved_secret_key(self) -> SecretKey:
        """Return the secret key: the one given, else the one of the data directory (created if missing).

        Raises:
            SecretKeyError: the key in the environment or the key file is malformed.
        """
        if self.secret_key is not None:
            return self.secret_key
        return load_secret_key(self.data_dir or default_data_dir(), create=True)
