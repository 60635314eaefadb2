"""The audit log is append-only: entries can be added and read, never changed or removed."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from resguardo.catalog.enums import Role
from resguardo.catalog.queries import (
    audit,
    create_client,
    create_user,
    list_audit,
    record_audit,
    snapshot_of,
    update_client,
)
from tests.catalog.conftest import NOW


def test_changes_are_recorded_with_who_when_and_the_object_before_and_after(session: Session) -> None:
    operator = create_user(session, username="op", roles=[Role.OPERATOR], password="twelve chars!!", now=NOW)
    client = create_client(session, name="db1", address="10.0.0.1", now=NOW)
    before = snapshot_of(client)
    update_client(session, client.id, {"address": "10.0.0.2"}, now=NOW)
    record_audit(
        session,
        now=NOW,
        actor=operator,
        action="update",
        object_type="client",
        object_id=client.id,
        before=before,
        after=snapshot_of(client),
    )
    record_audit(session, now=NOW, action="create", object_type="user", after=snapshot_of(operator))
    session.commit()

    entries = list_audit(session, object_type="client").items
    assert [(entry.actor_name, entry.action, entry.object_id) for entry in entries] == [
        ("op", "update", str(client.id))
    ]
    assert entries[0].before is not None
    assert entries[0].after is not None
    assert (entries[0].before["address"], entries[0].after["address"]) == ("10.0.0.1", "10.0.0.2")
    user_entry = list_audit(session, object_type="user").items[0]
    assert user_entry.after is not None
    assert "password_hash" not in user_entry.after


def test_the_catalog_offers_no_way_to_change_or_remove_an_entry() -> None:
    public = {name for name in dir(audit) if not name.startswith("_")}
    assert not {name for name in public if name.startswith(("update", "delete", "remove", "edit"))}


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_entries SET action = 'nothing'", "DELETE FROM audit_entries"]
)
def test_the_database_refuses_to_change_or_remove_an_entry(
    session: Session, engine: Engine, statement: str
) -> None:
    record_audit(session, now=NOW, action="login", object_type="user", object_id=1)
    session.commit()
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    assert [entry.action for entry in list_audit(session).items] == ["login"]
