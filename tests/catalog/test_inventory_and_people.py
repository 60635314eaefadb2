"""Clients, repositories, users and API tokens: create, read, list, change, remove; unique names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from resguardo.catalog import SecretKey
from resguardo.catalog.enums import Language, Role, Transport
from resguardo.catalog.passwords import PasswordParameters
from resguardo.catalog.queries import (
    authenticate,
    create_api_token,
    create_client,
    create_department,
    create_repository,
    create_user,
    delete_client,
    get_client,
    list_clients,
    list_users,
    revoke_api_token,
    set_roles,
    update_client,
    user_for_token,
)
from resguardo.core.errors import Conflict, NotFound, UsageError
from tests.catalog.conftest import NOW, Inventory

FAST = PasswordParameters(memory_kib=1024, iterations=1, lanes=1)


def test_clients_are_created_read_listed_changed_and_removed(session: Session) -> None:
    for number in range(7):
        create_client(session, name=f"web{number}", address=f"10.0.0.{number}", now=NOW)
    create_client(session, name="local", transport=Transport.LOCAL, now=NOW)
    session.commit()

    page = list_clients(session, offset=2, limit=3, name_contains="web")
    assert page.total == 7
    assert [client.name for client in page.items] == ["web2", "web3", "web4"]

    client = page.items[0]
    update_client(session, client.id, {"port": 2222, "notes": "moved"}, now=NOW)
    session.commit()
    assert get_client(session, client.id).port == 2222

    delete_client(session, client.id)
    session.commit()
    with pytest.raises(NotFound, match=f"no client has the ID {client.id}"):
        get_client(session, client.id)


def test_a_second_client_with_the_same_name_is_a_conflict(session: Session) -> None:
    first = create_client(session, name="db1", address="a", now=NOW)
    create_client(session, name="db2", address="b", now=NOW)
    with pytest.raises(Conflict, match="a client named 'db1' exists already"):
        create_client(session, name="db1", address="c", now=NOW)
    with pytest.raises(Conflict, match="'db2'"):
        update_client(session, first.id, {"name": "db2"}, now=NOW)


def test_the_database_itself_refuses_a_duplicate_name(engine: Engine) -> None:
    insert = text(
        "INSERT INTO clients (name, address, port, ssh_user, transport, notes, created_at, updated_at) "
        "VALUES ('twin', '', 22, '', 'local', '', :now, :now)"
    )
    with engine.begin() as connection:
        connection.execute(insert, {"now": NOW.replace(tzinfo=None)})
    with pytest.raises(Exception, match=r"(?i)unique"), engine.begin() as connection:
        connection.execute(insert, {"now": NOW.replace(tzinfo=None)})


def test_bad_client_fields_are_refused_with_the_field_named(session: Session) -> None:
    with pytest.raises(UsageError, match="needs an address"):
        create_client(session, name="nowhere", now=NOW)
    with pytest.raises(UsageError, match=r"port .* from 1 to 65535"):
        create_client(session, name="x", address="x", port=70000, now=NOW)
    client = create_client(session, name="ok", address="x", now=NOW)
    with pytest.raises(UsageError, match="no changeable field colour"):
        update_client(session, client.id, {"colour": "red"}, now=NOW)
    with pytest.raises(UsageError, match="unknown transport 'telnet'"):
        update_client(session, client.id, {"transport": "telnet"}, now=NOW)
    with pytest.raises(UsageError, match="unknown transport"):
        create_client(session, name="y", address="y", transport="carrier-pigeon", now=NOW)  # type: ignore[arg-type]


def test_a_client_or_repository_that_jobs_use_cannot_be_removed(
    session: Session, inventory: Inventory
) -> None:
    inventory.job(session, "nightly-db")
    session.commit()
    with pytest.raises(Conflict, match="used by jobs: nightly-db"):
        delete_client(session, inventory.client.id)


def test_a_repository_location_must_be_one_resguardo_opens(session: Session, secret_key: SecretKey) -> None:
    with pytest.raises(UsageError, match="absolute path, local:PATH, sftp"):
        create_repository(session, secret_key, name="r", url="ftp://old", now=NOW)


def test_users_hold_roles_and_log_in_with_argon2id_hashed_passwords(session: Session) -> None:
    department = create_department(session, name="Finanzas", now=NOW)
    user = create_user(
        session,
        username="ana",
        display_name="Ana",
        email="ana@example.org",
        language=Language.ENGLISH,
        department_id=department.id,
        roles=[Role.OPERATOR, "auditor"],
        password="a long enough password",
        password_parameters=FAST,
        now=NOW,
    )
    session.commit()
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert "a long enough password" not in user.password_hash
    assert user.roles == {Role.OPERATOR, Role.AUDITOR}
    assert authenticate(session, "ana", "a long enough password") is user
    assert authenticate(session, "ana", "a wrong password!!") is None
    assert authenticate(session, "nobody", "a long enough password") is None

    set_roles(session, user.id, [Role.IT_DIRECTOR], now=NOW)
    session.commit()
    assert list_users(session, role=Role.IT_DIRECTOR).items == [user]
    assert list_users(session, role=Role.OPERATOR).total == 0


def test_user_input_errors_name_what_is_wrong(session: Session) -> None:
    with pytest.raises(UsageError, match="unknown role 'admin'"):
        create_user(session, username="x", roles=["admin"], now=NOW)
    with pytest.raises(UsageError, match="at least 12 characters"):
        create_user(session, username="x", password="short", now=NOW)
    with pytest.raises(UsageError, match="unknown language 'fr'"):
        create_user(session, username="x", language="fr", now=NOW)


def test_api_tokens_are_stored_hashed_and_can_be_revoked(session: Session, engine: Engine) -> None:
    user = create_user(session, username="script", roles=[Role.OPERATOR], now=NOW)
    record, token = create_api_token(session, user.id, name="nightly report", now=NOW)
    session.commit()
    assert token.startswith(record.prefix)
    with engine.connect() as connection:
        stored = str(connection.execute(text("SELECT * FROM api_tokens")).all())
    assert token not in stored
    assert user_for_token(session, token, now=NOW) is user
    assert user_for_token(session, token + "x", now=NOW) is None
    revoke_api_token(session, record.id, now=NOW)
    session.commit()
    assert user_for_token(session, token, now=NOW) is None


def test_a_token_use_is_recorded_to_the_minute_so_most_requests_only_read(session: Session) -> None:
    user = create_user(session, username="script", roles=[Role.OPERATOR], now=NOW)
    record, token = create_api_token(session, user.id, name="nightly report", now=NOW)
    session.commit()
    user_for_token(session, token, now=NOW)
    assert record.last_used_at == NOW
    session.commit()
    user_for_token(session, token, now=NOW + timedelta(seconds=59))
    assert not session.dirty
    assert record.last_used_at == NOW
    user_for_token(session, token, now=NOW + timedelta(minutes=1))
    assert record.last_used_at == NOW + timedelta(minutes=1)
