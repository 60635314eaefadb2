"""Run one full scrub of an existing repository through the service, as a worker does; print JSON.

Usage: ``python benchmarks/scrub_service.py REPOSITORY`` with the passphrase in ``RESGUARDO_PASSWORD``
(and the engine's cache, as a worker has one, in ``RESGUARDO_CACHE_DIR``).
A throwaway SQLite catalog (in a temporary folder) records the repository with a scrub period of one
day, so that the single scrub reads every pack; the verification is queued with "verify now" and run
by :func:`resguardo.jobs.verification_worker.verify_until_idle`. Prints the verification's state, the
packs and bytes it read and its own duration; the caller times the whole process.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from resguardo.catalog import (
    SecretName,
    create_catalog_engine,
    load_secret_key,
    queries,
    session_factory,
    upgrade,
)
from resguardo.clock import SYSTEM_CLOCK
from resguardo.jobs.verification_worker import verify_until_idle
from resguardo.jobs.worker import WorkerSettings
from resguardo.services.verification import verify_now


def main(repository: str) -> dict[str, object]:
    """Scrub ``repository`` whole through a throwaway catalog; return what the register recorded."""
    with tempfile.TemporaryDirectory(prefix="scrub-bench-") as folder:
        url = f"sqlite:///{folder}/catalog.sqlite"
        upgrade(url)
        key = load_secret_key(Path(folder), create=True)
        sessions = session_factory(create_catalog_engine(url))
        now = SYSTEM_CLOCK.now()
        with sessions() as session:
            secrets = {SecretName.PASSPHRASE: os.environ["RESGUARDO_PASSWORD"]}
            record = queries.create_repository(
                session, key, name="bench", url=repository, now=now, secrets=secrets
            )
            queries.set_repository_verification(session, record.id, period_days=1)
            verify_now(session, repository_id=record.id, job_id=None, requested_by="bench", now=now)
            session.commit()
        started = time.monotonic()
        [(verification_id, state)] = verify_until_idle(
            sessions,
            WorkerSettings(key, worker_id="bench", cache_directory=os.environ.get("RESGUARDO_CACHE_DIR")),
            SYSTEM_CLOCK,
        )
        seconds = time.monotonic() - started
        with sessions() as session:
            done = queries.get_verification(session, verification_id)
            return {
                "state": str(state),
                "summary": done.summary,
                "packs_read": done.packs_read,
                "bytes_read": done.bytes_read,
                "complete": done.evidence["cycle_progress"]["complete"],
                "scrub_seconds": round(seconds, 3),
            }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
