"""What the verification tests share: a repository with small packs, backups by the worker, scrubs."""

from __future__ import annotations

import random
from pathlib import Path

from sqlalchemy import select

from resguardo.backends import LocalStorage
from resguardo.catalog import VerificationState, queries
from resguardo.catalog.models import Run, Verification
from resguardo.engine.chunker import ChunkerParameters
from resguardo.engine.repository import DATA_PREFIX, Repository, pack_id_from_name
from resguardo.jobs.scheduling_loop import schedule_pass
from resguardo.jobs.verification_worker import verify_until_idle
from resguardo.services import request_run_now
from resguardo.services.verification import verify_now
from tests.fixtures.service import FAST_KDF, PASSPHRASE, Service

SMALL_CHUNKS = ChunkerParameters(min_size=1024, average_size=4096, max_size=16384)


def random_tree(root: Path, files: int, size: int, seed: int) -> Path:
    """Write ``files`` incompressible files of ``size`` bytes under ``root``; return it."""
    generator = random.Random(seed)
    root.mkdir(parents=True)
    for number in range(files):
        (root / f"file{number:03}.bin").write_bytes(generator.randbytes(size))
    return root


def small_pack_repository(service: Service, name: str) -> tuple[int, Path]:
    """Add a catalog repository and create it with 1 MiB packs (so that small trees make many)."""
    repository_id = service.repository(name)
    with service.sessions() as session:
        location = Path(queries.get_repository(session, repository_id).url)
    Repository.create(
        LocalStorage(location), PASSPHRASE.encode(), chunker=SMALL_CHUNKS, pack_size=1024 * 1024, kdf=FAST_KDF
    )
    return repository_id, location


def back_up(service: Service, job_id: int) -> Run:
    """Run the job now through the scheduler and a worker; return the run."""
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())
    [(run_id, _state)] = service.worker().run_until_idle()
    with service.sessions() as session:
        return queries.get_run(session, run_id)


def pack_ids(location: Path) -> set[str]:
    """Return the hex IDs of the packs stored in the repository at ``location``."""
    found = set()
    for stored in LocalStorage(location).list(DATA_PREFIX):
        pack_id = pack_id_from_name(stored.name)
        if pack_id is not None:
            found.add(pack_id.hex())
    return found


def verify(service: Service, *, repository_id: int | None = None, job_id: int | None = None) -> Verification:
    """Queue a verification now, let a fresh worker run it, and return it finished."""
    with service.sessions() as session:
        queued = verify_now(
            session,
            repository_id=repository_id,
            job_id=job_id,
            requested_by="tester",
            now=service.clock.now(),
        )
        session.commit()
        verification_id = queued.id
    worker = service.worker(f"verifier-{verification_id}")
    done = verify_until_idle(worker.session_factory, worker.settings, worker.clock)
    assert [item[0] for item in done] == [verification_id]
    with service.sessions() as session:
        record = queries.get_verification(session, verification_id)
        session.expunge(record)
        return record


def finished(service: Service) -> list[Verification]:
    """Return every verification that ended, oldest first."""
    with service.sessions() as session:
        records = list(
            session.scalars(
                select(Verification)
                .where(Verification.state != VerificationState.QUEUED)
                .order_by(Verification.id)
            )
        )
        for record in records:
            session.expunge(record)
        return records


def flip_bytes(pack: Path, offset: int) -> None:
    """Damage a pack file: invert one byte at ``offset`` (files of a repository are read-only)."""
    pack.chmod(0o644)
    data = bytearray(pack.read_bytes())
    data[offset] ^= 0xFF
    pack.write_bytes(bytes(data))


def pack_path(location: Path, pack_hex: str) -> Path:
    """Return the file of a pack."""
    return location / "data" / pack_hex[:2] / pack_hex
