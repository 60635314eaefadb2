"""Client servers and repositories through the API (remote mode).

A client's secrets and a repository's passphrase are sent once, in the request that sets them, and
never come back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from resguardo.cli.catalog_client.protocol import Record
from resguardo.cli.catalog_client.remote.base import RemoteBase
from resguardo.cli.catalog_client.remote.documents import client_record, repository_record


class RemoteInventory(RemoteBase):
    """Client servers and repositories of the server's catalog."""

    def list_clients(self) -> list[Record]:
        """Return every client server, by name."""
        return [client_record(item) for item in self.api.every_item("/clients")]

    def show_client(self, name: str) -> Record:
        """Return the client ``name``. Raises NotFound."""
        return client_record(self.find("/clients", "client", name))

    def add_client(self, name: str, fields: Mapping[str, Any], secrets: Mapping[str, str]) -> Record:
        """Add a client, sending its secrets once; return it. Raises Conflict, ConfigurationError."""
        body = {"name": name, **fields, "secrets": dict(secrets)}
        return client_record(self.api.request("POST", "/clients", json=body))

    def edit_client(self, name: str, changes: Mapping[str, Any], secrets: Mapping[str, str]) -> Record:
        """Change the client ``name`` (and its secrets); return it. Raises NotFound, Conflict,
        ConfigurationError."""
        client_id = self.find_id("/clients", "client", name)
        body = {**changes, "secrets": dict(secrets)}
        return client_record(self.api.request("PATCH", f"/clients/{client_id}", json=body))

    def test_client(
        self, name: str, paths: Sequence[str], databases: Sequence[str], job: str | None
    ) -> Record:
        """Run the connectivity test of the client ``name`` on the server; return its report. Raises
        NotFound, ConfigurationError, AccessDenied."""
        client_id = self.find_id("/clients", "client", name)
        body: dict[str, Any] = {"paths": list(paths), "databases": list(databases)}
        if job is not None:
            body["job_id"] = self.find_id("/jobs", "job", job)
        report: Record = self.api.request("POST", f"/clients/{client_id}/test", json=body)
        return report

    def remove_client(self, name: str) -> Record:
        """Remove the client ``name``; return what it was. Raises NotFound, Conflict."""
        document = self.show_client(name)
        self.api.request("DELETE", f"/clients/{document['id']}")
        return document

    def list_repositories(self) -> list[Record]:
        """Return every repository, by name."""
        return [repository_record(item) for item in self.api.every_item("/repositories")]

    def show_repository(self, name: str) -> Record:
        """Return the repository ``name``. Raises NotFound."""
        return repository_record(self.find("/repositories", "repository", name))

    def add_repository(
        self, name: str, url: str, notes: str, passphrase: str, max_concurrent_runs: int | None = None
    ) -> Record:
        """Add a repository, sending its passphrase once; return it. Raises Conflict, ConfigurationError."""
        body: dict[str, Any] = {
            "name": name,
            "url": url,
            "notes": notes,
            "secrets": {"passphrase": passphrase},
        }
        if max_concurrent_runs is not None:
            body["max_concurrent_runs"] = max_concurrent_runs
        return repository_record(self.api.request("POST", "/repositories", json=body))

    def edit_repository(self, name: str, changes: Mapping[str, Any], passphrase: str | None) -> Record:
        """Change the repository ``name`` (and its passphrase); return it. Raises NotFound, Conflict,
        ConfigurationError."""
        repository_id = self.find_id("/repositories", "repository", name)
        body: dict[str, Any] = dict(changes)
        if passphrase is not None:
            body["secrets"] = {"passphrase": passphrase}
        return repository_record(self.api.request("PATCH", f"/repositories/{repository_id}", json=body))

    def remove_repository(self, name: str) -> Record:
        """Remove the repository ``name`` from the catalog; return what it was. Raises NotFound, Conflict."""
        document = self.show_repository(name)
        self.api.request("DELETE", f"/repositories/{document['id']}")
        return document
