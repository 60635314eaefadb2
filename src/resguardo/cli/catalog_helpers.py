"""What the catalog's CRUD commands share: the audit entry of a change, secrets read without echo, and
printing one record as text or as one JSON document."""

from __future__ import annotations

import getpass
import os
from typing import TYPE_CHECKING, Any

from resguardo.cli.passphrases import read_password_file
from resguardo.core.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    from sqlalchemy.orm import Session

    from resguardo.cli.output import Output


def local_user_name() -> str:
    """Return the name of the operating-system account running the command (for the audit log)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}"


def record_change(
    session: Session,
    now: datetime,
    action: str,
    object_type: str,
    object_id: int | str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Record a change made through the CLI in the audit log, as the service's own action named after the
    local account, and commit the session."""
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


def read_secret(password_file: str | None, what: str) -> str:
    """Return a secret from ``password_file``, or asked twice on the terminal without echo.

    Raises:
        UsageError: no file and no terminal to ask on, the file is unreadable or empty, or the answers differ.
    """
    if password_file:
        return os.fsdecode(read_password_file(password_file))
    try:
        interactive = os.isatty(0)
    except OSError:
        interactive = False
    if not interactive:
        raise UsageError(
            f"no {what} given, and standard input is not a terminal to ask for one",
            "pass --password-file FILE",
        )
    first = getpass.getpass(f"Enter the {what}: ")
    if not first:
        raise UsageError(f"the {what} is empty", f"type a {what}, or use --password-file")
    if getpass.getpass(f"Enter the {what} again: ") != first:
        raise UsageError(f"the two {what}s differ", "run the command again and type the same twice")
    return first


def print_record(output: Output, document: Mapping[str, Any], fields: Iterable[str] | None = None) -> None:
    """Print one record: as one JSON document with ``--json``, else one ``field: value`` line each."""
    if output.json_mode:
        output.json_document(dict(document))
        return
    for field in fields if fields is not None else document:
        output.result(f"{field}: {document[field]}")


def print_done(output: Output, document: Mapping[str, Any], message: str) -> None:
    """Report a change: the record as one JSON document with ``--json``, else ``message``."""
    if output.json_mode:
        output.json_document(dict(document))
    else:
        output.summary(message)
