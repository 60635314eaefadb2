"""The local mode's verification operations: queue, run here (``--wait``), show and list the register."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any

from resguardo.cli.catalog_client.local_base import LocalBase, every_page, local_user_name
from resguardo.cli.catalog_client.protocol import Record

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _ids(session: Session, repository: str | None, job: str | None) -> tuple[int | None, int | None]:
    """Return the IDs of the repository and job named (None: not named). Raises NotFound."""
    from resguardo.catalog import queries
    from resguardo.cli.catalog_client.local_inventory import find_repository

    repository_id = find_repository(session, repository).id if repository is not None else None
    job_id = queries.find_job(session, job).id if job is not None else None
    return repository_id, job_id


class LocalVerifications(LocalBase):
    """Verification operations on the catalog's database."""

    def request_verification(self, repository: str | None, job: str | None) -> Record:
        """Queue a scrub of ``repository`` or a restore test of ``job``; return it.

        Raises NotFound, UsageError (neither or both named), Conflict (one is pending)."""
        from resguardo.jobs.verification_documents import verification_json
        from resguardo.services.verification import verify_now

        now = self.now()
        with self.sessions() as session:
            repository_id, job_id = _ids(session, repository, job)
            verification = verify_now(
                session, repository_id=repository_id, job_id=job_id, requested_by=local_user_name(), now=now
            )
            document = verification_json(verification)
            after = {"kind": document["kind"], "repository_id": repository_id, "job_id": job_id}
            self.record_change(
                session, now, "verification.request", "verification", verification.id, after=after
            )
            return document

    def wait_for_verification(self, verification_id: int) -> Record:
        """Run the queued verification here (this command is its worker, with heartbeats); return it
        finished. A verification a worker took first is waited for instead. Raises NotFound."""
        import time

        from resguardo.catalog import queries
        from resguardo.jobs.verification_worker import run_claimed_verification
        from resguardo.jobs.worker import WorkerSettings

        settings = WorkerSettings(self.secret_key(), worker_id=f"cli:{socket.gethostname()}:{os.getpid()}")
        with self.sessions() as session:
            claimed = queries.claim_verification(session, verification_id, settings.worker_id, self.now())
        if claimed:
            run_claimed_verification(self.sessions, verification_id, settings, self.clock)
        while (record := self.show_verification(verification_id))["state"] in ("queued", "running"):
            time.sleep(2)
        return record

    def show_verification(self, verification_id: int) -> Record:
        """Return the verification ``verification_id`` with its evidence. Raises NotFound."""
        from resguardo.catalog import queries
        from resguardo.jobs.verification_documents import verification_json

        with self.sessions() as session:
            return verification_json(queries.get_verification(session, verification_id))

    def list_verifications(self, filters: dict[str, Any]) -> list[Record]:
        """Return the register, newest first, filtered by ``kind``, ``state``, ``repository`` and ``job``
        (names). Raises NotFound (no such repository or job)."""
        from resguardo.catalog import VerificationKind, VerificationState, queries
        from resguardo.jobs.verification_documents import verification_json

        with self.sessions() as session:
            repository_id, job_id = _ids(session, filters.get("repository"), filters.get("job"))
            chosen = queries.VerificationFilter(
                kind=VerificationKind(filters["kind"]) if filters.get("kind") else None,
                repository_id=repository_id,
                job_id=job_id,
                state=VerificationState(filters["state"]) if filters.get("state") else None,
            )
            records = every_page(
                lambda offset, limit: queries.list_verifications(session, chosen, offset, limit)
            )
            return [verification_json(record) for record in records]
