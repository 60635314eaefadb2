"""A job's source document is checked against its kind and its client when the job is stored."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from resguardo.catalog.queries import update_client, update_job
from resguardo.core.errors import UsageError
from tests.catalog.conftest import NOW, Inventory


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"kind": "ftp", "paths": ["/srv"]}, "source.kind"),
        ({"paths": ["/srv"]}, "source.kind"),
        ({"kind": "paths"}, "source.paths"),
        ({"kind": "paths", "paths": []}, "source.paths"),
        ({"kind": "paths", "paths": "/srv"}, "source.paths"),
        ({"kind": "paths", "paths": ["srv/data"]}, "source.paths"),
        ({"kind": "paths", "paths": ["/srv"], "excludes": [3]}, "source.excludes"),
        ({"kind": "paths", "paths": ["/srv"], "colour": "red"}, "source.colour"),
        ({"kind": "postgresql"}, "source.url"),
        ({"kind": "mysql", "databases": ["shop"], "url": "postgresql://u@db1/"}, "source.url"),
        ({"kind": "postgresql", "databases": "sales"}, "source.databases"),
        ({"kind": "sqlite", "paths": ["/srv/app.sqlite3"]}, "source.kind"),
        ({"kind": "postgresql", "url": "postgresql://u@db1/", "via": "tunnel"}, "source.via"),
        ({"kind": "mysql", "url": "mysql://u@db1/", "via": 1}, "source.via"),
    ],
)
def test_a_source_that_does_not_fit_is_refused_naming_its_field(
    session: Session, inventory: Inventory, source: dict[str, Any], field: str
) -> None:
    with pytest.raises(UsageError) as raised:
        inventory.job(session, "wrong", source=source)
    assert getattr(raised.value, "api_field", None) == field


def test_a_database_source_takes_the_clients_database_url(session: Session, inventory: Inventory) -> None:
    with pytest.raises(UsageError):
        inventory.job(session, "sales", source={"kind": "postgresql", "databases": ["sales"]})
    session.rollback()
    update_client(session, inventory.client.id, {"database_url": "postgresql://backup@db1/"}, now=NOW)
    job = inventory.job(session, "sales", source={"kind": "postgresql", "databases": ["sales"]})
    assert job.source == {"kind": "postgresql", "databases": ["sales"]}


def test_an_edit_is_checked_too_and_a_job_without_source_stays_allowed(
    session: Session, inventory: Inventory
) -> None:
    job = inventory.job(session, "configs")
    assert job.source == {}
    with pytest.raises(UsageError) as raised:
        update_job(session, job.id, {"source": {"kind": "paths", "paths": []}}, now=NOW)
    assert getattr(raised.value, "api_field", None) == "source.paths"
    update_job(
        session, job.id, {"source": {"kind": "paths", "paths": ["/etc"], "excludes": ["*.bak"]}}, now=NOW
    )
