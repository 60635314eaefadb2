"""Jobs, runs and the failure log on the catalog's database (local mode), each change audited.

"Run now" is the service's :func:`resguardo.services.request_run_now`, as the API's is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from resguardo.cli.catalog_client.local_base import LocalBase, every_page
from resguardo.cli.catalog_client.local_documents import (
    failure_document,
    job_detail,
    run_document,
    run_log_document,
)
from resguardo.cli.catalog_client.local_inventory import find_client, find_repository
from resguardo.cli.catalog_client.protocol import JobReferences, Record

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def reference_ids(session: Session, references: JobReferences) -> dict[str, Any]:
    """Return the IDs of the client, repository and category ``references`` names (those given).

    Raises:
        NotFound: one of them does not exist.
    """
    from resguardo.catalog import queries

    ids: dict[str, Any] = {}
    if references.client is not None:
        ids["client_id"] = find_client(session, references.client).id
    if references.repository is not None:
        ids["repository_id"] = find_repository(session, references.repository).id
    if references.category is not None:
        ids["category_id"] = queries.find_category(session, references.category).id
    return ids


def _job_id(session: Session, name: str | None) -> int | None:
    from resguardo.catalog import queries

    return queries.find_job(session, name).id if name is not None else None


class LocalPlans(LocalBase):
    """The jobs, runs and failure log of the catalog."""

    def list_jobs(self) -> list[Record]:
        """Return every job, by name."""
        from resguardo.catalog import queries
        from resguardo.cli.catalog_client.local_documents import job_document

        with self.sessions() as session:
            jobs = every_page(lambda offset, limit: queries.list_jobs(session, offset=offset, limit=limit))
            return [job_document(job) for job in jobs]

    def show_job(self, name: str) -> Record:
        """Return the job ``name``. Raises NotFound."""
        from resguardo.catalog import queries

        with self.sessions() as session:
            return job_detail(queries.find_job(session, name))

    def add_job(self, name: str, references: JobReferences, fields: Mapping[str, Any]) -> Record:
        """Add a job; return it. Raises NotFound, Conflict, ConfigurationError."""
        from resguardo.catalog import queries

        now = self.now()
        with self.sessions() as session:
            ids = reference_ids(session, references)
            job = queries.create_job(session, name=name, now=now, **ids, **fields)
            self.record_change(session, now, "job.create", "job", job.id, after=queries.snapshot_of(job))
            return job_detail(job)

    def edit_job(self, name: str, references: JobReferences, fields: Mapping[str, Any]) -> Record:
        """Change the job ``name``; return it. Raises NotFound, Conflict, ConfigurationError."""
        return self._change_job(name, references, fields, "job.update")

    def set_job_paused(self, name: str, paused: bool) -> Record:
        """Pause or resume the job ``name``; return it. Raises NotFound."""
        action = "job.pause" if paused else "job.resume"
        return self._change_job(name, JobReferences(), {"paused": paused}, action)

    def _change_job(
        self, name: str, references: JobReferences, fields: Mapping[str, Any], action: str
    ) -> Record:
        from resguardo.catalog import queries

        now = self.now()
        with self.sessions() as session:
            job = queries.find_job(session, name)
            before = queries.snapshot_of(job)
            changes = {**fields, **reference_ids(session, references)}
            job = queries.update_job(session, job.id, changes, now=now)
            self.record_change(session, now, action, "job", job.id, before, queries.snapshot_of(job))
            session.refresh(job)
            return job_detail(job)

    def remove_job(self, name: str) -> Record:
        """Remove the job ``name``; return what it was. Raises NotFound, Conflict (R21)."""
        from resguardo.catalog import queries

        now = self.now()
        with self.sessions() as session:
            job = queries.find_job(session, name)
            document, before = job_detail(job), queries.snapshot_of(job)
            queries.delete_job(session, job.id, now=now)
            self.record_change(session, now, "job.delete", "job", document["id"], before=before)
            return document

    def run_job_now(self, name: str) -> Record:
        """Ask for one run of the job ``name`` now; return the job. Raises NotFound, Conflict (paused)."""
        from resguardo.catalog import queries
        from resguardo.services import request_run_now

        with self.sessions() as session:
            job = request_run_now(session, queries.find_job(session, name).id, None, self.now())
            return job_detail(job)

    def list_runs(self, job: str | None) -> list[Record]:
        """Return the runs (of ``job``), newest first. Raises NotFound."""
        from resguardo.catalog import queries

        with self.sessions() as session:
            job_id = _job_id(session, job)
            runs = every_page(
                lambda offset, limit: queries.list_runs(session, offset=offset, limit=limit, job_id=job_id)
            )
            return [run_document(run) for run in runs]

    def show_run(self, run_id: int) -> Record:
        """Return the run ``run_id`` with its log. Raises NotFound."""
        from resguardo.catalog import queries

        with self.sessions() as session:
            return run_log_document(queries.get_run(session, run_id))

    def cancel_run(self, run_id: int) -> Record:
        """Cancel the queued run ``run_id``; return it. Raises NotFound, Conflict (not queued)."""
        from resguardo.catalog import queries

        now = self.now()
        with self.sessions() as session:
            before = queries.snapshot_of(queries.get_run(session, run_id))
            run = queries.cancel_run(session, run_id, now)
            self.record_change(session, now, "run.cancel", "run", run_id, before, queries.snapshot_of(run))
            return run_document(run)

    def list_failures(self, job: str | None, open_only: bool) -> list[Record]:
        """Return the failure log's entries, newest first. Raises NotFound (no such job)."""
        from resguardo.catalog import queries

        with self.sessions() as session:
            job_id = _job_id(session, job)
            entries = every_page(
                lambda offset, limit: queries.list_failures(
                    session, offset=offset, limit=limit, job_id=job_id, open_only=open_only
                )
            )
            return [failure_document(entry) for entry in entries]

    def show_failure(self, failure_id: int) -> Record:
        """Return the failure-log entry ``failure_id``. Raises NotFound."""
        from resguardo.catalog.models import FailureEntry
        from resguardo.catalog.queries._common import get_or_raise

        with self.sessions() as session:
            return failure_document(get_or_raise(session, FailureEntry, failure_id, "failure entry"))
