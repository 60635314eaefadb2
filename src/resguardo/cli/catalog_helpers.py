"""What the catalog's commands share: the fields given, secrets read without echo, and printing one
record as text or as one JSON document (the same in the local and the remote mode)."""

from __future__ import annotations

import getpass
import os
from typing import TYPE_CHECKING, Any

from resguardo.cli.passphrases import read_password_file
from resguardo.core.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from resguardo.cli.output import Output


def given(**fields: Any) -> dict[str, Any]:
    """Return the ``fields`` given a value (those not None)."""
    return {name: value for name, value in fields.items() if value is not None}


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
