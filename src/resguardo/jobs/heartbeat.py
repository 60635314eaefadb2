"""A thread that keeps a claimed piece of work alive in the catalog: a run, a restore, a verification.

While a worker carries the work out, :class:`Heartbeat` writes a heartbeat (with the latest progress)
every ``interval`` seconds; when the catalog says the work is no longer this worker's (cancelled, or
failed as stale by another worker's sweep), it sets ``lost`` and stops, and the work's reporter stops
the work at its next progress report. Subclasses say what one heartbeat writes (:meth:`Heartbeat.send`).
"""

from __future__ import annotations

import threading
from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from resguardo.core.errors import Conflict


class Heartbeat:
    """The heartbeat thread of one claimed piece of work; a context manager that starts and stops it.

    Args:
        session_factory: makes catalog sessions.
        interval: seconds between two heartbeats.
        thread_name: the thread's name (``heartbeat-12``).
    """

    def __init__(self, session_factory: sessionmaker[Session], interval: float, thread_name: str) -> None:
        self.session_factory = session_factory
        self.interval = interval
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=thread_name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def send(self, session: Session) -> None:
        """Write one heartbeat in ``session`` (not committed). Raises Conflict when the work was lost."""
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._done.wait(self.interval):
            if not self.beat():
                return

    def beat(self) -> bool:
        """Send one heartbeat; return False (and set ``lost``) when the work is no longer this worker's."""
        with self.session_factory() as session:
            try:
                self.send(session)
                session.commit()
            except Conflict:
                session.rollback()
                self.lost.set()
                return False
        return True
