"""Client credentials: secrets sealed like repository secrets, plain host key and database URL checked,
and the last connectivity test kept with the client."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from resguardo.catalog import ClientSecretName, SecretKey
from resguardo.catalog.queries import (
    client_secret_names,
    create_client,
    delete_client,
    get_client,
    last_client_test,
    remove_client_secret,
    reveal_client_secret,
    set_client_secret,
    store_client_test,
    update_client,
)
from resguardo.core.errors import SecretKeyError, UsageError
from tests.catalog.conftest import NOW

PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key-but-secret-8812\n-----END OPENSSH"
DATABASE_PASSWORD = "db-secret-5531"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def _client_with_secrets(session: Session, key: SecretKey) -> int:
    client = create_client(
        session,
        name="web1",
        address="web1.example",
        ssh_host_key=HOST_KEY,
        now=NOW,
        database_url="postgresql://backup@web1.example:5432/",
    )
    set_client_secret(session, key, client.id, ClientSecretName.SSH_PRIVATE_KEY, PRIVATE_KEY)
    set_client_secret(session, key, client.id, "database_password", DATABASE_PASSWORD)
    session.commit()
    return client.id


def test_client_secrets_are_sealed_at_rest_and_revealed_with_the_key(
    session: Session, engine: Engine, secret_key: SecretKey
) -> None:
    client_id = _client_with_secrets(session, secret_key)
    with engine.connect() as connection:
        stored = str(connection.execute(text("SELECT * FROM client_secrets")).all())
        stored += str(connection.execute(text("SELECT * FROM clients")).all())
    assert PRIVATE_KEY not in stored and DATABASE_PASSWORD not in stored
    assert reveal_client_secret(session, secret_key, client_id, "ssh_private_key") == PRIVATE_KEY
    assert reveal_client_secret(session, secret_key, client_id, "ssh_key_passphrase") is None
    assert client_secret_names(get_client(session, client_id)) == ["database_password", "ssh_private_key"]
    with pytest.raises(SecretKeyError):
        reveal_client_secret(session, SecretKey.generate(), client_id, "database_password")


def test_a_removed_client_secret_is_gone_and_a_deleted_client_takes_its_secrets(
    session: Session, engine: Engine, secret_key: SecretKey
) -> None:
    client_id = _client_with_secrets(session, secret_key)
    remove_client_secret(session, client_id, "database_password")
    session.commit()
    assert client_secret_names(get_client(session, client_id)) == ["ssh_private_key"]
    delete_client(session, client_id)
    session.commit()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM client_secrets")).scalar() == 0


def test_unknown_secret_names_bad_host_keys_and_passwords_in_database_urls_are_refused(
    session: Session, secret_key: SecretKey
) -> None:
    client_id = _client_with_secrets(session, secret_key)
    with pytest.raises(UsageError, match="no secret named"):
        set_client_secret(session, secret_key, client_id, "root_password", "x")
    with pytest.raises(UsageError, match="ssh_host_key"):
        update_client(session, client_id, {"ssh_host_key": "not a key"}, now=NOW)
    session.rollback()
    with pytest.raises(UsageError, match="must not hold a password"):
        update_client(session, client_id, {"database_url": "mysql://root:hunter2@db/"}, now=NOW)
    session.rollback()
    with pytest.raises(UsageError, match="postgresql:// or mysql://"):
        update_client(session, client_id, {"database_url": "oracle://db/"}, now=NOW)


def test_the_last_test_report_replaces_the_one_before(session: Session, secret_key: SecretKey) -> None:
    client_id = _client_with_secrets(session, secret_key)
    assert last_client_test(session, client_id) is None
    store_client_test(session, client_id, {"summary": {"failed": 1}}, now=NOW, tested_by="ana")
    store_client_test(session, client_id, {"summary": {"failed": 0}}, now=NOW, tested_by="luis")
    session.commit()
    stored = last_client_test(session, client_id)
    assert stored is not None
    assert (stored.tested_by, stored.report) == ("luis", {"summary": {"failed": 0}})
