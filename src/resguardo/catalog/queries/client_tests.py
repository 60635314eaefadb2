"""The last connectivity and feasibility test of each client: stored with it, read back.

Functions flush; the caller commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from resguardo.catalog.models import Client, ClientTestReport
from resguardo.catalog.queries._common import get_or_raise


def store_client_test(
    session: Session, client_id: int, report: dict[str, Any], *, now: datetime, tested_by: str
) -> ClientTestReport:
    """Keep ``report`` as the client's last test (replacing the one before); return it.

    Args:
        session: the catalog session.
        client_id: the client tested.
        report: the report (items and summary; it must hold no secret).
        now: when the test ran.
        tested_by: who ran it (a user name, or the local account).

    Raises:
        NotFound: no such client.
    """
    get_or_raise(session, Client, client_id, "client")
    stored = session.get(ClientTestReport, client_id)
    if stored is None:
        stored = ClientTestReport(client_id=client_id, tested_at=now, tested_by=tested_by, report=report)
        session.add(stored)
    else:
        stored.tested_at, stored.tested_by, stored.report = now, tested_by, report
    session.flush()
    return stored


def last_client_test(session: Session, client_id: int) -> ClientTestReport | None:
    """Return the client's last test, or None when it was never tested.

    Raises:
        NotFound: no such client.
    """
    get_or_raise(session, Client, client_id, "client")
    return session.get(ClientTestReport, client_id)
