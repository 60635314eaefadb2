"""Fixtures shared by every test: storages, an isolated environment, and Hypothesis profiles.

Every test runs with ``RESGUARDO_CACHE_DIR`` pointing at a fresh temporary folder and without
``RESGUARDO_PASSWORD`` or ``RESGUARDO_REPOSITORY``, so that nothing in the developer's shell or home
folder leaks into a test, and no test writes outside its temporary folders.

Hypothesis profiles: ``dev`` (the default) and ``ci`` (chosen when ``CI`` is set to a true value, as
continuous integration does): both without a deadline, since timings on a loaded two-core machine say
nothing; ``ci`` tries fewer examples, derandomized so that a failure there is reproducible. Set
``HYPOTHESIS_PROFILE`` to choose one explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from resguardo.backends import LocalStorage, MemoryStorage
from tests.fixtures.postgres import postgres_cluster
from tests.fixtures.sshd import sshd_server

# A real OpenSSH server and a real PostgreSQL cluster on 127.0.0.1, for the SFTP and catalog tests.
__all__ = ["postgres_cluster", "sshd_server"]

settings.register_profile("dev", deadline=None)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=25,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _running_in_ci() -> bool:
    """Return whether the ``CI`` environment variable is set to a true value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _running_in_ci() else "dev"))


@pytest.fixture(autouse=True)
def resguardo_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Isolate every test from the user's environment; return the cache folder it was given.

    Sets ``RESGUARDO_CACHE_DIR`` to a fresh empty folder (not inside ``tmp_path``, which stays the
    test's own) and removes ``RESGUARDO_PASSWORD`` and ``RESGUARDO_REPOSITORY``.
    """
    cache_dir = tmp_path_factory.mktemp("resguardo-cache")
    monkeypatch.setenv("RESGUARDO_CACHE_DIR", str(cache_dir))
    monkeypatch.delenv("RESGUARDO_PASSWORD", raising=False)
    monkeypatch.delenv("RESGUARDO_REPOSITORY", raising=False)
    return cache_dir


@pytest.fixture
def memory_storage() -> MemoryStorage:
    """Return an empty in-memory storage."""
    return MemoryStorage()


@pytest.fixture
def local_storage(tmp_path: Path) -> LocalStorage:
    """Return a storage in ``tmp_path / "repository"`` (not created yet).

    Writes are not flushed with fsync, to keep tests fast; a test of durability builds its own
    ``LocalStorage`` with ``durable=True``.
    """
    return LocalStorage(tmp_path / "repository", durable=False)


# The moto S3 server and the fixtures built on it (see tests/s3_server.py).
from tests.s3_server import moto_server, s3_bucket, s3_environment, s3_storage  # noqa: E402, F401
