"""The service's users through the API (remote mode; administrators only). A password is sent once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from resguardo.cli.catalog_client.protocol import Record
from resguardo.cli.catalog_client.remote.base import RemoteBase
from resguardo.cli.catalog_client.remote.documents import user_record


class RemotePeople(RemoteBase):
    """The users of the server's catalog."""

    def _find_user(self, username: str) -> dict[str, Any]:
        return self.find("/users", "user", username, key="username")

    def list_users(self) -> list[Record]:
        """Return every user, by name."""
        return [user_record(item) for item in self.api.every_item("/users")]

    def show_user(self, username: str) -> Record:
        """Return the user ``username``. Raises NotFound."""
        return user_record(self._find_user(username))

    def add_user(
        self, username: str, roles: Sequence[str], password: str, fields: Mapping[str, Any]
    ) -> Record:
        """Add a user; return it. Raises Conflict, ConfigurationError."""
        body = {"username": username, "password": password, "roles": list(roles), **fields}
        return user_record(self.api.request("POST", "/users", json=body))

    def edit_user(
        self,
        username: str,
        changes: Mapping[str, Any],
        roles: Sequence[str] | None,
        password: str | None,
    ) -> Record:
        """Change the user ``username``; return it. Raises NotFound, Conflict, ConfigurationError."""
        user_id = self._find_user(username)["id"]
        body: dict[str, Any] = dict(changes)
        if roles:
            body["roles"] = list(roles)
        if password is not None:
            body["password"] = password
        return user_record(self.api.request("PATCH", f"/users/{user_id}", json=body))

    def remove_user(self, username: str) -> Record:
        """Remove the user ``username``; return what it was. Raises NotFound, Conflict (oneself)."""
        document = self.show_user(username)
        self.api.request("DELETE", f"/users/{document['id']}")
        return document
