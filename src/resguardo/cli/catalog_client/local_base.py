"""What the local mode's parts share: the catalog's sessions, the clock, the audit entry of a change, and
reading every page of a listing."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from resguardo.catalog import SecretKey
    from resguardo.catalog.queries import Page
    from resguardo.clock import Clock

ItemT = TypeVar("ItemT")


def local_user_name() -> str:
    """Return the name of the operating-system account running the command (for the audit log)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}"


def every_page(fetch: Callable[[int, int], Page[ItemT]]) -> list[ItemT]:
    """Return the items of every page ``fetch(offset, limit)`` gives, in order."""
    from resguardo.catalog.queries import MAX_PAGE_SIZE

    items: list[ItemT] = []
    while True:
        page = fetch(len(items), MAX_PAGE_SIZE)
        items.extend(page.items)
        if not page.items or len(items) >= page.total:
            return items


class LocalBase:
    """The catalog's database, for the commands of the local mode.

    Args:
        sessions: a session factory of the catalog (checked to be migrated).
        data_dir: the data directory holding the catalog's key (None: the default one).
        clock: where the time of each change is read.
    """

    def __init__(self, sessions: sessionmaker[Session], data_dir: Path | None, clock: Clock) -> None:
        self.sessions = sessions
        self.data_dir = data_dir
        self.clock = clock

    def now(self) -> datetime:
        """Return the current time of the clock."""
        return self.clock.now()

    def secret_key(self) -> SecretKey:
        """Return the catalog's secret key. Raises SecretKeyError when it is missing or malformed."""
        from resguardo.catalog.database import default_data_dir
        from resguardo.catalog.secrets import load_secret_key

        return load_secret_key(self.data_dir or default_data_dir())

    def record_change(  # noqa: PLR0917 (each argument names a part of the entry)
        self,
        session: Session,
        now: datetime,
        action: str,
        object_type: str,
        object_id: int | str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        """Record a change in the audit log as the service's own, named after the local account; commit."""
        from resguardo.catalog import queries

        queries.record_audit(
            session,
            now=now,
            action=action,
            object_type=object_type,
            object_id=object_id,
            before=before,
            after=after,
            actor_name=local_user_name(),
        )
        session.commit()
