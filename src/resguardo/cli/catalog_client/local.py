"""The local mode: the catalog commands on the catalog's database, as the service's own account."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from resguardo.cli.catalog_client.local_inventory import LocalInventory
from resguardo.cli.catalog_client.local_notifications import LocalNotifications
from resguardo.cli.catalog_client.local_people import LocalPeople
from resguardo.cli.catalog_client.local_plans import LocalPlans
from resguardo.cli.catalog_client.local_restores import LocalRestores
from resguardo.cli.catalog_client.local_verification_settings import LocalVerificationSettings
from resguardo.cli.catalog_client.local_verifications import LocalVerifications
from resguardo.cli.commands_db import catalog_engine

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.orm import Session, sessionmaker


class LocalCatalog(
    LocalInventory,
    LocalPeople,
    LocalPlans,
    LocalRestores,
    LocalVerifications,
    LocalVerificationSettings,
    LocalNotifications,
):
    """Every catalog command's operation on the catalog's database (see the protocol)."""


@contextmanager
def migrated_sessions(database_url: str | None, data_dir: Path | None) -> Iterator[sessionmaker[Session]]:
    """Yield a session factory of the catalog, checked to be at the newest revision.

    Raises:
        ConfigurationError: the database cannot be reached or is not migrated.
    """
    from resguardo.catalog.database import session_factory
    from resguardo.catalog.migrate import current_revision, head_revision
    from resguardo.core.errors import ConfigurationError

    with catalog_engine(database_url, data_dir) as (_url, engine):
        revision = current_revision(engine)
        if revision != head_revision():
            raise ConfigurationError(
                f"the catalog is at revision {revision or '(none)'}, not {head_revision()}",
                "run 'resguardo db upgrade' first",
            )
        yield session_factory(engine)


@contextmanager
def local_catalog(database_url: str | None, data_dir: Path | None) -> Iterator[LocalCatalog]:
    """Yield the local mode over the catalog ``database_url`` (else the data directory's SQLite file).

    Raises:
        ConfigurationError: the database cannot be reached or is not migrated.
    """
    from resguardo.clock import SYSTEM_CLOCK

    with migrated_sessions(database_url, data_dir) as sessions:
        yield LocalCatalog(sessions, data_dir, SYSTEM_CLOCK)
