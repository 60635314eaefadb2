"""What the remote mode's parts share: the transport, and finding a record's ID by its name."""

from __future__ import annotations

from typing import Any

from resguardo.cli.catalog_client.remote.transport import ApiTransport
from resguardo.core.errors import AccessDenied, NotFound


class RemoteBase:
    """A server's API, for the commands of the remote mode.

    Args:
        transport: the HTTP client of the server, with the caller's token.
    """

    def __init__(self, transport: ApiTransport) -> None:
        self.api = transport

    def find(self, path: str, what: str, name: str, *, key: str = "name") -> dict[str, Any]:
        """Return the JSON of the record of ``path`` (e.g. ``/clients``) whose ``key`` is ``name``.

        Raises:
            NotFound: none is (the same message as the local mode's).
            AccessDenied, ConfigurationError, ResguardoError: as the transport.
        """
        params = {"name_contains": name} if key == "name" else None
        for item in self.api.every_item(path, params):
            if item[key] == name:
                return item
        raise NotFound(f"no {what} is named {name!r}", f"list the {what}s to find the right name")

    def find_id(self, path: str, what: str, name: str, *, key: str = "name") -> int:
        """Return the ID of the record named ``name`` (see :meth:`find`)."""
        identity: int = self.find(path, what, name, key=key)["id"]
        return identity

    def names(self, path: str) -> dict[int, str]:
        """Return the names by ID of every record of ``path``; empty when the caller's roles may not
        read them (the records are then shown as ``#ID``)."""
        try:
            return {item["id"]: item["name"] for item in self.api.every_item(path)}
        except AccessDenied:
            return {}
