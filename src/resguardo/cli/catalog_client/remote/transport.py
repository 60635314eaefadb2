"""Calls to a server's ``/api/v1``: the token in ``Authorization``, every page of a listing, errors mapped
to the local mode's (:mod:`.errors`).

The token is sent in a header only: it is never printed, logged, or put into a message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx

from resguardo.cli.catalog_client.remote.errors import error_of, unreachable
from resguardo.core.errors import UsageError

API_PREFIX = "/api/v1"
PAGE_SIZE = 500
"""The largest page the API gives."""
TIMEOUT_SECONDS = 30.0


def normalized_server(url: str) -> str:
    """Return a server's address as ``http(s)://HOST[:PORT][/PATH]``, without a trailing ``/`` or ``/api/v1``.

    Raises:
        UsageError: not an http:// or https:// address with a host.
    """
    text = url.strip().rstrip("/")
    if text.endswith(API_PREFIX):
        text = text[: -len(API_PREFIX)].rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise UsageError(
            f"{url!r} is not a server address",
            "give --server / RESGUARDO_SERVER as https://HOST[:PORT] (http:// on this machine)",
        )
    return text


class ApiTransport:
    """An HTTP client of one server's API.

    Args:
        server: the server's address (see :func:`normalized_server`).
        token: the API token to authenticate with (None: none, for logging in).
    """

    def __init__(self, server: str, token: str | None) -> None:
        self.server = normalized_server(server)
        headers = {"Accept": "application/json", "User-Agent": "resguardo-cli"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.Client(
            base_url=self.server + API_PREFIX, headers=headers, timeout=TIMEOUT_SECONDS
        )

    def close(self) -> None:
        """Close the connections."""
        self.client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send a request to ``/api/v1`` + ``path``; return the answer's JSON (None for 204).

        Raises:
            NotFound, Conflict, ConfigurationError, AccessDenied, ResguardoError: the server answered
                with an error, or could not be reached (see :mod:`.errors`).
        """
        try:
            response = self.client.request(method, path, json=json, params=params, headers=headers)
        except httpx.TransportError as error:
            raise unreachable(error, self.server) from None
        if response.is_error:
            raise error_of(response, self.server)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise error_of(response, self.server) from None

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """Return the JSON of ``GET path``. Raises as :meth:`request`."""
        return self.request("GET", path, params=params)

    def every_item(self, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Return the items of every page of the listing ``GET path``. Raises as :meth:`request`."""
        items: list[dict[str, Any]] = []
        while True:
            page = self.get(path, {**(params or {}), "limit": PAGE_SIZE, "offset": len(items)})
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total"]:
                return items


@contextmanager
def connected(server: str, token: str | None) -> Iterator[ApiTransport]:
    """Yield a transport to ``server``, closed afterwards. Raises UsageError for a bad address."""
    transport = ApiTransport(server, token)
    try:
        yield transport
    finally:
        transport.close()
