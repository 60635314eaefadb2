"""Jobs, runs and the failure log through the API (remote mode).

Jobs are named by the API with IDs: their client, repository and category are named here by looking
them up (shown as ``#ID`` when the caller's roles may not read them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resguardo.cli.catalog_client.documents import JOB_KEYS, picked
from resguardo.cli.catalog_client.protocol import JobReferences, Record
from resguardo.cli.catalog_client.remote.base import RemoteBase
from resguardo.cli.catalog_client.remote.documents import (
    failure_record,
    job_record,
    run_record,
)


class RemotePlans(RemoteBase):
    """The jobs, runs and failure log of the server's catalog."""

    def _job_id(self, name: str) -> int:
        return self.find_id("/jobs", "job", name)

    def _named(self, jobs: list[dict[str, Any]]) -> list[Record]:
        """Return the documents of ``jobs``, naming their references (one listing of each kind)."""
        if not jobs:
            return []
        clients, repositories = self.names("/clients"), self.names("/repositories")
        categories = self.names("/categories")
        return [job_record(job, clients, repositories, categories) for job in jobs]

    def _reference_ids(self, references: JobReferences) -> dict[str, int]:
        ids: dict[str, int] = {}
        if references.client is not None:
            ids["client_id"] = self.find_id("/clients", "client", references.client)
        if references.repository is not None:
            ids["repository_id"] = self.find_id("/repositories", "repository", references.repository)
        if references.category is not None:
            ids["category_id"] = self.find_id("/categories", "category", references.category, key="name")
        return ids

    def list_jobs(self) -> list[Record]:
        """Return every job, by name."""
        return [picked(job, JOB_KEYS) for job in self._named(self.api.every_item("/jobs"))]

    def show_job(self, name: str) -> Record:
        """Return the job ``name``. Raises NotFound."""
        return self._named([self.find("/jobs", "job", name)])[0]

    def add_job(self, name: str, references: JobReferences, fields: Mapping[str, Any]) -> Record:
        """Add a job; return it. Raises NotFound (a reference), Conflict, ConfigurationError."""
        body = {"name": name, **self._reference_ids(references), **fields}
        return self._named([self.api.request("POST", "/jobs", json=body)])[0]

    def edit_job(self, name: str, references: JobReferences, fields: Mapping[str, Any]) -> Record:
        """Change the job ``name``; return it. Raises NotFound, Conflict, ConfigurationError."""
        job_id = self._job_id(name)
        body = {**fields, **self._reference_ids(references)}
        return self._named([self.api.request("PATCH", f"/jobs/{job_id}", json=body)])[0]

    def set_job_paused(self, name: str, paused: bool) -> Record:
        """Pause or resume the job ``name``; return it. Raises NotFound."""
        return self.edit_job(name, JobReferences(), {"paused": paused})

    def remove_job(self, name: str) -> Record:
        """Remove the job ``name``; return what it was. Raises NotFound, Conflict (R21)."""
        document = self.show_job(name)
        self.api.request("DELETE", f"/jobs/{document['id']}")
        return document

    def run_job_now(self, name: str) -> Record:
        """Ask for one run of the job ``name`` now; return the job. Raises NotFound, Conflict (paused)."""
        return self._named([self.api.request("POST", f"/jobs/{self._job_id(name)}/run")])[0]

    def list_runs(self, job: str | None) -> list[Record]:
        """Return the runs (of ``job``), newest first. Raises NotFound."""
        params = {"job_id": self._job_id(job)} if job is not None else None
        return [run_record(run) for run in self.api.every_item("/runs", params)]

    def show_run(self, run_id: int) -> Record:
        """Return the run ``run_id`` with its log. Raises NotFound."""
        return run_record(self.api.get(f"/runs/{run_id}"), with_log=True)

    def cancel_run(self, run_id: int) -> Record:
        """Cancel the queued run ``run_id``; return it. Raises NotFound, Conflict (not queued)."""
        return run_record(self.api.request("POST", f"/runs/{run_id}/cancel"))

    def list_failures(self, job: str | None, open_only: bool) -> list[Record]:
        """Return the failure log's entries, newest first. Raises NotFound (no such job)."""
        params: dict[str, Any] = {"open_only": open_only}
        if job is not None:
            params["job_id"] = self._job_id(job)
        return [failure_record(entry) for entry in self.api.every_item("/failures", params)]

    def show_failure(self, failure_id: int) -> Record:
        """Return the failure-log entry ``failure_id``. Raises NotFound."""
        return failure_record(self.api.get(f"/failures/{failure_id}"))
