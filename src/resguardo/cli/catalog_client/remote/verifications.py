"""The remote mode's verification operations, through the API."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from resguardo.cli.catalog_client.protocol import Record
from resguardo.cli.catalog_client.remote.base import RemoteBase

POLL_SECONDS = 2.0


class RemoteVerifications(RemoteBase):
    """Verification operations through a server's API."""

    def _ids(self, repository: str | None, job: str | None) -> dict[str, int]:
        named = {}
        if repository is not None:
            named["repository_id"] = self.find_id("/repositories", "repository", repository)
        if job is not None:
            named["job_id"] = self.find_id("/jobs", "job", job)
        return named

    def request_verification(self, repository: str | None, job: str | None) -> Record:
        """Queue a scrub of ``repository`` or a restore test of ``job``; return it.

        Raises NotFound, UsageError (neither or both named), Conflict (one is pending), AccessDenied."""
        record: Record = self.api.request("POST", "/verifications", json=self._ids(repository, job))
        return record

    def wait_for_verification(self, verification_id: int) -> Record:
        """Wait until the server's workers have run the verification; return it finished."""
        while (record := self.show_verification(verification_id))["state"] in ("queued", "running"):
            time.sleep(POLL_SECONDS)
        return record

    def show_verification(self, verification_id: int) -> Record:
        """Return the verification ``verification_id`` with its evidence. Raises NotFound."""
        record: Record = self.api.get(f"/verifications/{verification_id}")
        return record

    def list_verifications(self, filters: dict[str, Any]) -> list[Record]:
        """Return the register, newest first, filtered (see the local mode). Raises NotFound."""
        params: dict[str, Any] = {key: filters[key] for key in ("kind", "state") if filters.get(key)}
        params.update(self._ids(filters.get("repository"), filters.get("job")))
        return self.api.every_item("/verifications", params)

    def set_repository_verification(
        self, name: str, schedule: Mapping[str, Any] | None, period_days: int | None
    ) -> Record:
        """Set the repository's scrub schedule and/or period; return its settings. Raises NotFound,
        ConfigurationError, AccessDenied."""
        repository_id = self.find_id("/repositories", "repository", name)
        body = _given(schedule=schedule, scrub_period_days=period_days)
        record: Record = self.api.request("PATCH", f"/repositories/{repository_id}/verification", json=body)
        return record

    def set_job_restore_test(
        self, name: str, schedule: Mapping[str, Any] | None, sample_files: int | None
    ) -> Record:
        """Set the job's restore-test schedule and/or sample size; return its settings. Raises NotFound,
        ConfigurationError, AccessDenied."""
        job_id = self.find_id("/jobs", "job", name)
        body = _given(schedule=schedule, sample_files=sample_files)
        record: Record = self.api.request("PATCH", f"/jobs/{job_id}/restore-test", json=body)
        return record

    def list_test_servers(self) -> list[Record]:
        """Return the restore-test servers, by kind (never their passwords)."""
        items: list[Record] = self.api.get("/verification-servers")["items"]
        return items

    def set_test_server(self, kind: str, url: str, password: str) -> Record:
        """Set the restore-test server of ``kind``; the password travels once to be sealed. Raises
        ConfigurationError, AccessDenied."""
        body = {"url": url, "password": password}
        record: Record = self.api.request("PUT", f"/verification-servers/{kind}", json=body)
        return record

    def remove_test_server(self, kind: str) -> Record:
        """Remove the restore-test server of ``kind``; return what it was. Raises NotFound, AccessDenied."""
        record: Record = self.api.request("DELETE", f"/verification-servers/{kind}")
        return record


def _given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}
