"""The catalog: the service's database of clients, repositories, jobs, runs, people and the audit log.

Layout: :mod:`~resguardo.catalog.models` (tables), :mod:`~resguardo.catalog.queries` (functions over a
session), :mod:`~resguardo.catalog.database` (engines and sessions), :mod:`~resguardo.catalog.migrate`
(Alembic migrations shipped in the package), :mod:`~resguardo.catalog.secrets` (the key sealing
repository secrets), :mod:`~resguardo.catalog.passwords` and :mod:`~resguardo.catalog.retention`;
schedules are checked by :mod:`resguardo.schedules`. The catalog imports nothing of the engine, nor
the engine of it.
"""

from resguardo.catalog.database import create_catalog_engine, database_url, default_data_dir, session_factory
from resguardo.catalog.enums import (
    ClientSecretName,
    Language,
    RestoreKind,
    RestoreState,
    Role,
    RunState,
    RunTrigger,
    SecretName,
    Transport,
    Verification,
    VerificationKind,
    VerificationState,
    VerificationTrigger,
)
from resguardo.catalog.migrate import upgrade
from resguardo.catalog.secrets import SecretKey, load_secret_key

__all__ = [
    "ClientSecretName",
    "Language",
    "RestoreKind",
    "RestoreState",
    "Role",
    "RunState",
    "RunTrigger",
    "SecretKey",
    "SecretName",
    "Transport",
    "Verification",
    "VerificationKind",
    "VerificationState",
    "VerificationTrigger",
    "create_catalog_engine",
    "database_url",
    "default_data_dir",
    "load_secret_key",
    "session_factory",
    "upgrade",
]
