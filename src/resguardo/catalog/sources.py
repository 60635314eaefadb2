"""The source document of a job: what it backs up, checked before it is stored.

Kinds (see docs/service.md):

- ``{"kind": "paths", "paths": [...], "excludes": [...], "one_file_system": false}``: files of the
  client, local or over SSH (absolute paths on an SSH client);
- ``{"kind": "postgresql" | "mysql", "databases": [...], "url": "...", "via": "ssh" | "direct"}``: dumps
  of the client's database server (``databases`` empty: all of them; ``url`` overrides the client's
  ``database_url``). ``via`` says where the dump tools run: ``ssh`` (the default on a client reached
  over SSH) runs them on the client and streams the dump back over SSH, the URL's host then being as
  seen from the client (none: its local socket); ``direct`` (the only choice on a local client) connects
  from the backup server;
- ``{"kind": "sqlite", "paths": [...]}``: SQLite database files of a local client.

Any kind may add ``"commands": {"before": "...", "after": "...", "timeout_seconds": 300}``, run on the
client around the backup (see :mod:`resguardo.services.job_commands`).

An empty document (``{}``) is a job whose source is not set yet: it is stored, and its runs fail
saying so. Errors name the field at fault (``source.kind``, ``source.paths``...) in ``api_field``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resguardo.catalog.enums import Transport
from resguardo.catalog.models import Client
from resguardo.core.errors import UsageError

PATH_KINDS = ("paths", "sqlite")
DATABASE_KINDS = ("postgresql", "mysql")
SOURCE_KINDS = ("paths", *DATABASE_KINDS, "sqlite")
URL_SCHEMES = {"postgresql": ("postgresql://", "postgres://"), "mysql": ("mysql://", "mariadb://")}
FIELDS = {
    "paths": ("kind", "paths", "excludes", "one_file_system", "commands"),
    "postgresql": ("kind", "databases", "url", "via", "commands"),
    "mysql": ("kind", "databases", "url", "via", "commands"),
    "sqlite": ("kind", "paths", "commands"),
}
VIA_CHOICES = ("ssh", "direct")
COMMAND_FIELDS = ("before", "after", "timeout_seconds")
MAX_COMMAND_LENGTH = 4096
MAX_COMMAND_SECONDS = 86_400
MAX_ITEMS = 1000
EXAMPLE = '{"kind": "paths", "paths": ["/srv/data"], "excludes": []}'


def source_error(message: str, field: str, hint: str = "") -> UsageError:
    """Return a UsageError about the source naming ``source.<field>`` (for the API's 422 answer)."""
    error = UsageError(message, hint)
    setattr(error, "api_field", f"source.{field}")  # noqa: B010 (an attribute the API's handler reads)
    return error


def _texts(source: Mapping[str, Any], field: str, *, required: bool) -> list[str]:
    """Return the list of non-empty texts at ``field``. Raises UsageError (naming the field)."""
    value = source.get(field, [])
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise source_error(f"source.{field} must be a list of non-empty texts", field)
    if len(value) > MAX_ITEMS:
        raise source_error(f"source.{field} holds more than {MAX_ITEMS} items", field)
    if required and not value:
        raise source_error(f"a {source['kind']} source needs at least one path in source.{field}", field)
    return list(value)


def check_source(source: Mapping[str, Any], client: Client) -> None:
    """Check a job's source document against the client it runs on.

    Raises:
        UsageError: an unknown kind or field, a value of the wrong type, a paths or sqlite source
            without paths, a relative path on an SSH client, a sqlite source on an SSH client, or a
            database source with no server address (the error's ``api_field`` names the field).
    """
    if not source:
        return
    kind = source.get("kind")
    if kind not in SOURCE_KINDS:
        raise source_error(
            f"source.kind must be one of {', '.join(SOURCE_KINDS)}, not {kind!r}", "kind", f"e.g. {EXAMPLE}"
        )
    unknown = sorted(set(source) - set(FIELDS[kind]))
    if unknown:
        raise source_error(
            f"a {kind} source has no field {unknown[0]!r}",
            unknown[0],
            f"its fields are {', '.join(FIELDS[kind])}",
        )
    if kind in PATH_KINDS:
        _check_path_source(source, kind, client)
    else:
        _check_database_source(source, kind, client)
    if "commands" in source:
        _check_commands(source["commands"])


def _check_commands(commands: Any) -> None:
    """Check ``source.commands``. Raises UsageError naming the field at fault."""
    if not isinstance(commands, Mapping):
        raise source_error(
            "source.commands must be an object with before, after, timeout_seconds", "commands"
        )
    unknown = sorted(set(commands) - set(COMMAND_FIELDS))
    if unknown:
        raise source_error(
            f"source.commands has no field {unknown[0]!r}",
            f"commands.{unknown[0]}",
            f"its fields are {', '.join(COMMAND_FIELDS)}",
        )
    for field in ("before", "after"):
        value = commands.get(field, "")
        if not isinstance(value, str) or len(value) > MAX_COMMAND_LENGTH or "\0" in value:
            raise source_error(
                f"source.commands.{field} must be a command line of at most {MAX_COMMAND_LENGTH} characters",
                f"commands.{field}",
            )
    seconds = commands.get("timeout_seconds", 300)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= MAX_COMMAND_SECONDS:
        raise source_error(
            f"source.commands.timeout_seconds must be a whole number from 1 to {MAX_COMMAND_SECONDS}",
            "commands.timeout_seconds",
        )


def _check_path_source(source: Mapping[str, Any], kind: str, client: Client) -> None:
    paths = _texts(source, "paths", required=True)
    if kind == "paths":
        _texts(source, "excludes", required=False)
        if not isinstance(source.get("one_file_system", False), bool):
            raise source_error("source.one_file_system must be true or false", "one_file_system")
    if client.transport is Transport.SSH:
        if kind == "sqlite":
            raise source_error(
                f"a sqlite source runs on a local client; {client.name!r} is reached over SSH",
                "kind",
                "back up the database files as paths, or dump the database on the client first",
            )
        relative = [path for path in paths if not path.startswith("/")]
        if relative:
            raise source_error(
                f"paths on an SSH client must be absolute, not {relative[0]!r}", "paths", "e.g. /srv/data"
            )


def database_via(source: Mapping[str, Any], client: Client) -> str:
    """Return where a database source's dump tools run: ``ssh`` (on the client) or ``direct`` (here).

    The default is ``ssh`` for a client reached over SSH, ``direct`` for a local one.
    """
    default = "ssh" if client.transport is Transport.SSH else "direct"
    return str(source.get("via") or default)


def _check_via(source: Mapping[str, Any], client: Client) -> None:
    """Check ``source.via``. Raises UsageError naming the field."""
    via = source.get("via")
    if "via" in source and via not in VIA_CHOICES:
        raise source_error(
            f"source.via must be one of {', '.join(VIA_CHOICES)}, not {via!r}",
            "via",
            "ssh runs the dump on the client reached over SSH; direct connects from the backup server",
        )
    if via == "ssh" and client.transport is not Transport.SSH:
        raise source_error(
            f"source.via is ssh, but client {client.name!r} is not reached over SSH",
            "via",
            'leave out via (or set "direct") for a local client',
        )


def _check_database_source(source: Mapping[str, Any], kind: str, client: Client) -> None:
    _texts(source, "databases", required=False)
    _check_via(source, client)
    url = source.get("url", "")
    if not isinstance(url, str):
        raise source_error("source.url must be a text", "url")
    url = url or client.database_url
    if not url:
        raise source_error(
            f"a {kind} source needs a database server: client {client.name!r} has no database_url",
            "url",
            f"set the client's database_url (resguardo client edit {client.name} --db-server "
            f"{URL_SCHEMES[kind][0]}USER@HOST/) or the source's url",
        )
    if not url.lower().startswith(URL_SCHEMES[kind]):
        raise source_error(
            f"a {kind} source needs a {URL_SCHEMES[kind][0]} server address",
            "url",
            "set a matching database_url on the client, or the source's url",
        )
