"""The local mode's verification settings: a repository's scrub schedule and period, a job's restore-test
schedule and sample size, and the database servers restore tests restore into (passwords sealed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resguardo.cli.catalog_client.local_base import LocalBase, local_user_name
from resguardo.cli.catalog_client.protocol import Record


class LocalVerificationSettings(LocalBase):
    """Verification settings on the catalog's database, audited as the API audits them."""

    def set_repository_verification(
        self, name: str, schedule: Mapping[str, Any] | None, period_days: int | None
    ) -> Record:
        """Set the repository's scrub schedule and/or period; return its settings. Raises NotFound,
        ConfigurationError."""
        from resguardo.catalog import queries
        from resguardo.cli.catalog_client.local_inventory import find_repository
        from resguardo.jobs.verification_documents import repository_verification_json

        now = self.now()
        with self.sessions() as session:
            repository = find_repository(session, name)
            before = repository_verification_json(repository, now)
            record = queries.set_repository_verification(
                session, repository.id, schedule=schedule, period_days=period_days
            )
            after = repository_verification_json(record, now)
            self.record_change(
                session, now, "repository.verification", "repository", repository.id, before, after
            )
            return after

    def set_job_restore_test(
        self, name: str, schedule: Mapping[str, Any] | None, sample_files: int | None
    ) -> Record:
        """Set the job's restore-test schedule and/or sample size; return its settings. Raises NotFound,
        ConfigurationError."""
        from resguardo.catalog import queries
        from resguardo.jobs.verification_documents import job_restore_test_json

        now = self.now()
        with self.sessions() as session:
            job = queries.find_job(session, name)
            before = job_restore_test_json(job, now)
            record = queries.set_job_restore_test(
                session, job.id, schedule=schedule, sample_files=sample_files
            )
            after = job_restore_test_json(record, now)
            self.record_change(session, now, "job.restore_test", "job", job.id, before, after)
            return after

    def list_test_servers(self) -> list[Record]:
        """Return the restore-test servers, by kind (never their passwords)."""
        from resguardo.catalog import queries
        from resguardo.jobs.verification_documents import server_json

        with self.sessions() as session:
            return [server_json(record) for record in queries.list_restore_test_servers(session)]

    def set_test_server(self, kind: str, url: str, password: str) -> Record:
        """Set the restore-test server of ``kind``, its password sealed; return it. Raises UsageError,
        ConfigurationError (not a server address of its kind), SecretKeyError."""
        from resguardo.catalog import queries
        from resguardo.jobs.verification_documents import server_json
        from resguardo.sources.addresses import parse_address

        key, now = self.secret_key(), self.now()
        with self.sessions() as session:
            record = queries.set_restore_test_server(
                session, key, kind, url, password, now, local_user_name()
            )
            parse_address(url, kind)
            document = server_json(record)
            self.record_change(
                session, now, "verification_server.set", "verification_server", kind, after=document
            )
            return document

    def remove_test_server(self, kind: str) -> Record:
        """Remove the restore-test server of ``kind``; return what it was. Raises NotFound."""
        from resguardo.catalog import queries
        from resguardo.jobs.verification_documents import server_json

        now = self.now()
        with self.sessions() as session:
            document = server_json(queries.remove_restore_test_server(session, kind))
            self.record_change(
                session, now, "verification_server.remove", "verification_server", kind, before=document
            )
            return document
