"""Client servers and repositories on the catalog's database (local mode), each change audited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from resguardo.cli.catalog_client.local_base import LocalBase, every_page
from resguardo.cli.catalog_client.local_documents import client_document, repository_document
from resguardo.cli.catalog_client.protocol import Record

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resguardo.catalog.models import Client, Repository


def find_client(session: Session, name: str) -> Client:
    """Return the client named ``name``. Raises NotFound (with a hint to list the clients)."""
    from resguardo.catalog.models import Client
    from resguardo.catalog.queries._common import get_by_name_or_raise

    return get_by_name_or_raise(session, Client, Client.name, name, "client")


def find_repository(session: Session, name: str) -> Repository:
    """Return the repository named ``name``. Raises NotFound (with a hint to list them)."""
    from resguardo.catalog.models import Repository
    from resguardo.catalog.queries._common import get_by_name_or_raise

    return get_by_name_or_raise(session, Repository, Repository.name, name, "repository")


def _client_audit(client: Client) -> dict[str, Any]:
    from resguardo.catalog import queries

    return {**queries.snapshot_of(client), "secrets_set": queries.client_secret_names(client)}


def _repository_audit(repository: Repository) -> dict[str, Any]:
    from resguardo.catalog import queries

    return {
        **queries.snapshot_of(repository),
        "secrets_set": sorted(name.value for name in repository.secret_names),
    }


class LocalInventory(LocalBase):
    """Client servers and repositories of the catalog."""

    def list_clients(self) -> list[Record]:
        """Return every client server, by name."""
        from resguardo.catalog import queries

        with self.sessions() as session:
            clients = every_page(
                lambda offset, limit: queries.list_clients(session, offset=offset, limit=limit)
            )
            return [client_document(client) for client in clients]

    def show_client(self, name: str) -> Record:
        """Return the client ``name``. Raises NotFound."""
        with self.sessions() as session:
            return client_document(find_client(session, name))

    def add_client(self, name: str, fields: Mapping[str, Any], secrets: Mapping[str, str]) -> Record:
        """Add a client with its sealed secrets; return it. Raises Conflict, UsageError, SecretKeyError."""
        from resguardo.catalog import queries

        key = self.secret_key() if secrets else None
        now = self.now()
        with self.sessions() as session:
            client = queries.create_client(session, name=name, now=now, **fields)
            for secret_name, value in secrets.items():
                assert key is not None
                queries.set_client_secret(session, key, client.id, secret_name, value)
            session.refresh(client)
            self.record_change(
                session, now, "client.create", "client", client.id, after=_client_audit(client)
            )
            return client_document(client)

    def edit_client(self, name: str, changes: Mapping[str, Any], secrets: Mapping[str, str]) -> Record:
        """Change the client ``name`` and set ``secrets``; return it. Raises NotFound, Conflict,
        UsageError, SecretKeyError."""
        from resguardo.catalog import queries

        key = self.secret_key() if secrets else None
        now = self.now()
        with self.sessions() as session:
            client = find_client(session, name)
            before = _client_audit(client)
            client = queries.update_client(session, client.id, changes, now=now)
            for secret_name, value in secrets.items():
                assert key is not None
                queries.set_client_secret(session, key, client.id, secret_name, value)
            session.refresh(client)
            after = _client_audit(client)
            self.record_change(session, now, "client.update", "client", client.id, before, after)
            return client_document(client)

    def test_client(
        self, name: str, paths: Sequence[str], databases: Sequence[str], job: str | None
    ) -> Record:
        """Run the connectivity test of the client ``name``, store and return its report. Raises
        NotFound, UsageError, SecretKeyError."""
        from resguardo.catalog import queries
        from resguardo.cli.catalog_client.local_base import local_user_name
        from resguardo.services.connectivity import ConnectivityRequest, run_client_test

        key, now = self.secret_key(), self.now()
        with self.sessions() as session:
            client = find_client(session, name)
            job_id = queries.find_job(session, job).id if job is not None else None
            request = ConnectivityRequest(list(paths), list(databases), None, job_id)
            document = run_client_test(session, key, client.id, request, now=now, tested_by=local_user_name())
            after = {"summary": document["summary"]}
            self.record_change(session, now, "client.test", "client", client.id, after=after)
            return document

    def remove_client(self, name: str) -> Record:
        """Remove the client ``name``; return what it was. Raises NotFound, Conflict."""
        from resguardo.catalog import queries

        now = self.now()
        with self.sessions() as session:
            client = find_client(session, name)
            document, before = client_document(client), queries.snapshot_of(client)
            queries.delete_client(session, client.id)
            self.record_change(session, now, "client.delete", "client", document["id"], before=before)
            return document

    def list_repositories(self) -> list[Record]:
        """Return every repository, by name."""
        from resguardo.catalog import queries

        with self.sessions() as session:
            repositories = every_page(
                lambda offset, limit: queries.list_repositories(session, offset=offset, limit=limit)
            )
            return [repository_document(repository) for repository in repositories]

    def show_repository(self, name: str) -> Record:
        """Return the repository ``name``. Raises NotFound."""
        with self.sessions() as session:
            return repository_document(find_repository(session, name))

    def add_repository(
        self, name: str, url: str, notes: str, passphrase: str, max_concurrent_runs: int | None = None
    ) -> Record:
        """Add a repository with its sealed passphrase (and its limit of runs at once, else the default);
        return it. Raises Conflict, UsageError, SecretKeyError."""
        from resguardo.catalog import queries
        from resguardo.catalog.enums import SecretName
        from resguardo.catalog.models.inventory import DEFAULT_MAX_CONCURRENT_RUNS

        key, now = self.secret_key(), self.now()
        with self.sessions() as session:
            repository = queries.create_repository(
                session,
                key,
                name=name,
                url=url,
                now=now,
                notes=notes,
                secrets={SecretName.PASSPHRASE: passphrase},
                max_concurrent_runs=max_concurrent_runs or DEFAULT_MAX_CONCURRENT_RUNS,
            )
            session.refresh(repository)
            after = _repository_audit(repository)
            self.record_change(session, now, "repository.create", "repository", repository.id, after=after)
            return repository_document(repository)

    def edit_repository(self, name: str, changes: Mapping[str, Any], passphrase: str | None) -> Record:
        """Change the repository ``name`` and its passphrase when given; return it. Raises NotFound,
        Conflict, UsageError, SecretKeyError."""
        from resguardo.catalog import queries
        from resguardo.catalog.enums import SecretName

        key = self.secret_key() if passphrase is not None else None
        now = self.now()
        with self.sessions() as session:
            repository = find_repository(session, name)
            before = _repository_audit(repository)
            repository = queries.update_repository(session, repository.id, changes, now=now)
            if passphrase is not None and key is not None:
                queries.set_secret(session, key, repository.id, SecretName.PASSPHRASE, passphrase)
            session.refresh(repository)
            after = _repository_audit(repository)
            self.record_change(session, now, "repository.update", "repository", repository.id, before, after)
            return repository_document(repository)

    def remove_repository(self, name: str) -> Record:
        """Remove the repository ``name`` from the catalog; return what it was. Raises NotFound, Conflict."""
        from resguardo.catalog import queries

        now = self.now()
        with self.sessions() as session:
            repository = find_repository(session, name)
            document, before = repository_document(repository), _repository_audit(repository)
            queries.delete_repository(session, repository.id)
            self.record_change(session, now, "repository.delete", "repository", document["id"], before=before)
            return document
