"""Repository secrets are sealed at rest with a key kept outside the catalog, and only revealed on request."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from resguardo.catalog import SecretKey, load_secret_key
from resguardo.catalog.enums import SecretName
from resguardo.catalog.queries import (
    create_repository,
    get_repository,
    list_repositories,
    remove_secret,
    reveal_secret,
    set_secret,
)
from resguardo.catalog.secrets import SECRET_KEY_ENV
from resguardo.core.errors import NotFound, SecretKeyError, UsageError
from tests.catalog.conftest import NOW

PASSPHRASE = "correct horse battery staple 7731"
S3_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def _repository_with_secrets(session: Session, key: SecretKey) -> int:
    repository = create_repository(
        session,
        key,
        name="offsite",
        url="s3://bucket/prefix",
        options={"s3_endpoint": "https://s3.example"},
        secrets={SecretName.PASSPHRASE: PASSPHRASE, "s3_secret_access_key": S3_SECRET},
        now=NOW,
    )
    session.commit()
    return repository.id


def test_secrets_are_not_stored_in_clear(session: Session, engine: Engine, secret_key: SecretKey) -> None:
    _repository_with_secrets(session, secret_key)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM repository_secrets")).all()
        every_value = b"".join(
            value if isinstance(value, bytes) else str(value).encode() for row in rows for value in row
        )
        repository_row = str(connection.execute(text("SELECT * FROM repositories")).all()).encode()
    assert len(rows) == 2
    for secret in (PASSPHRASE, S3_SECRET):
        assert secret.encode() not in every_value
        assert secret.encode() not in repository_row


def test_reveal_secret_gives_back_the_value_with_the_right_key(
    session: Session, secret_key: SecretKey
) -> None:
    repository_id = _repository_with_secrets(session, secret_key)
    assert reveal_secret(session, secret_key, repository_id, SecretName.PASSPHRASE) == PASSPHRASE
    assert reveal_secret(session, secret_key, repository_id, "s3_secret_access_key") == S3_SECRET


def test_reading_a_repository_shows_which_secrets_are_set_but_never_their_values(
    session: Session, secret_key: SecretKey
) -> None:
    repository_id = _repository_with_secrets(session, secret_key)
    repository = get_repository(session, repository_id)
    assert repository.secret_names == {SecretName.PASSPHRASE, SecretName.S3_SECRET_ACCESS_KEY}
    shown = repr(repository) + repr(repository.secrets) + repr(list_repositories(session))
    assert PASSPHRASE not in shown
    assert S3_SECRET not in shown
    assert secret_key.encoded() not in repr(secret_key)


def test_another_key_cannot_reveal_and_says_so(session: Session, secret_key: SecretKey) -> None:
    repository_id = _repository_with_secrets(session, secret_key)
    with pytest.raises(SecretKeyError, match="sealed with the catalog key"):
        reveal_secret(session, SecretKey.generate(), repository_id, SecretName.PASSPHRASE)


def test_a_sealed_value_moved_to_another_secret_does_not_open(
    session: Session, engine: Engine, secret_key: SecretKey
) -> None:
    repository_id = _repository_with_secrets(session, secret_key)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE repository_secrets SET sealed = "
                "(SELECT sealed FROM repository_secrets WHERE name = 's3_secret_access_key') "
                "WHERE name = 'passphrase'"
            )
        )
    session.expire_all()
    with pytest.raises(SecretKeyError, match="does not open"):
        reveal_secret(session, secret_key, repository_id, SecretName.PASSPHRASE)


def test_secrets_can_be_replaced_and_removed(session: Session, secret_key: SecretKey) -> None:
    repository_id = _repository_with_secrets(session, secret_key)
    set_secret(session, secret_key, repository_id, SecretName.PASSPHRASE, "a new passphrase")
    remove_secret(session, repository_id, SecretName.S3_SECRET_ACCESS_KEY)
    session.commit()
    assert reveal_secret(session, secret_key, repository_id, SecretName.PASSPHRASE) == "a new passphrase"
    with pytest.raises(NotFound, match="no s3_secret_access_key set"):
        reveal_secret(session, secret_key, repository_id, SecretName.S3_SECRET_ACCESS_KEY)
    with pytest.raises(UsageError, match="no secret named 'password'"):
        set_secret(session, secret_key, repository_id, "password", "x")


def test_key_file_is_created_once_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
    with pytest.raises(SecretKeyError, match="missing"):
        load_secret_key(tmp_path)
    created = load_secret_key(tmp_path, create=True)
    key_file = tmp_path / "catalog.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_secret_key(tmp_path) == created


def test_key_from_the_environment_wins_and_a_malformed_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_secret_key(tmp_path, create=True)
    key = SecretKey.generate()
    monkeypatch.setenv(SECRET_KEY_ENV, key.encoded())
    assert load_secret_key(tmp_path) == key
    monkeypatch.setenv(SECRET_KEY_ENV, "not base64!")
    with pytest.raises(SecretKeyError, match="not valid base64"):
        load_secret_key(tmp_path)
    monkeypatch.setenv(SECRET_KEY_ENV, "c2hvcnQ=")
    with pytest.raises(SecretKeyError, match="must be 32 bytes, not 5"):
        load_secret_key(tmp_path)
