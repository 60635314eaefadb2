"""Tests of encryption, keyed hashing and key slots: what goes in comes out, and any change is caught."""

from __future__ import annotations

import json

import pytest

from resguardo.backends import MemoryStorage
from resguardo.clock import SYSTEM_CLOCK
from resguardo.core.errors import IntegrityError, ResguardoError, WrongPassphrase
from resguardo.engine.crypto import (
    ENVELOPE_OVERHEAD,
    MASTER_SECRET_SIZE,
    KdfParameters,
    RepositoryKeys,
    open_sealed,
    plain_id,
    seal,
)
from resguardo.engine.keys import make_slot_file, parse_slot_file, slot_id
from resguardo.engine.repository import KEYS_PREFIX, Repository, list_key_slots

FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


# -- seal / open -------------------------------------------------------------------------------


def test_seal_then_open_returns_the_plaintext() -> None:
    envelope = seal(KEY, b"secret payload", b"context")
    assert open_sealed(KEY, envelope, b"context") == b"secret payload"
    assert len(envelope) == len(b"secret payload") + ENVELOPE_OVERHEAD


def test_seal_uses_a_fresh_nonce_each_time() -> None:
    assert seal(KEY, b"same") != seal(KEY, b"same")


@pytest.mark.parametrize("position", [0, 5, 12, 20, -1])
def test_open_rejects_an_envelope_with_any_flipped_bit(position: int) -> None:
    envelope = bytearray(seal(KEY, b"twenty bytes of text", b"ad"))
    envelope[position] ^= 0x80
    with pytest.raises(IntegrityError):
        open_sealed(KEY, bytes(envelope), b"ad")


def test_open_rejects_the_wrong_key() -> None:
    with pytest.raises(IntegrityError, match="authentication"):
        open_sealed(OTHER_KEY, seal(KEY, b"payload"))


def test_open_rejects_other_associated_data() -> None:
    with pytest.raises(IntegrityError):
        open_sealed(KEY, seal(KEY, b"payload", b"key slot"), b"something else")


def test_open_rejects_a_truncated_envelope() -> None:
    with pytest.raises(IntegrityError, match="truncated"):
        open_sealed(KEY, seal(KEY, b"")[: ENVELOPE_OVERHEAD - 1])


# -- repository keys ---------------------------------------------------------------------------


def test_repository_keys_encrypt_then_decrypt_round_trip() -> None:
    keys = RepositoryKeys.generate()
    data = bytes(range(256)) * 10
    assert keys.decrypt(keys.encrypt(data)) == data
    assert keys.decrypt(keys.encrypt(memoryview(data))) == data


def test_repository_keys_reject_tampered_and_foreign_envelopes() -> None:
    keys = RepositoryKeys.generate()
    envelope = bytearray(keys.encrypt(b"index contents"))
    envelope[len(envelope) // 2] ^= 1
    with pytest.raises(IntegrityError):
        keys.decrypt(bytes(envelope))
    with pytest.raises(IntegrityError):
        RepositoryKeys.generate().decrypt(keys.encrypt(b"index contents"))
    with pytest.raises(IntegrityError, match="truncated"):
        keys.decrypt(b"short")


def test_sub_keys_are_distinct_and_derived_deterministically() -> None:
    secret = bytes(range(MASTER_SECRET_SIZE))
    first, second = RepositoryKeys(secret), RepositoryKeys(secret)
    assert first.encryption_key == second.encryption_key
    assert first.blob_id_key == second.blob_id_key
    assert first.chunker_key == second.chunker_key
    assert len({first.encryption_key, first.blob_id_key, first.chunker_key}) == 3


def test_blob_ids_are_keyed_per_repository() -> None:
    first, second = RepositoryKeys.generate(), RepositoryKeys.generate()
    assert first.blob_id(b"content") == first.blob_id(memoryview(b"content"))
    assert first.blob_id(b"content") != second.blob_id(b"content")
    assert first.blob_id(b"content") != plain_id(b"content")
    assert len(first.blob_id(b"content")) == 32


def test_a_master_secret_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(IntegrityError):
        RepositoryKeys(b"\0" * 32)


def test_kdf_depends_on_passphrase_salt_and_parameters() -> None:
    salt = b"s" * 16
    base = FAST_KDF.derive(b"passphrase", salt)
    assert base == FAST_KDF.derive(b"passphrase", salt)
    assert base != FAST_KDF.derive(b"passphrase!", salt)
    assert base != FAST_KDF.derive(b"passphrase", b"t" * 16)
    assert base != KdfParameters(memory_kib=1024, iterations=2, lanes=1).derive(b"passphrase", salt)


# -- key slot files ----------------------------------------------------------------------------


def test_a_slot_file_unlocks_with_its_passphrase_only() -> None:
    secret = RepositoryKeys.generate().master_secret
    data = make_slot_file(secret, b"right", FAST_KDF, SYSTEM_CLOCK.now())
    slot = parse_slot_file(slot_id(data), data)
    assert slot.unlock(b"right") == secret
    assert slot.unlock(b"wrong") is None
    assert slot.kdf == FAST_KDF
    description = slot.describe()
    assert description["id"] == slot_id(data)
    assert "m=1024KiB" in description["kdf"]
    assert secret.hex() not in json.dumps(description)


def test_a_slot_file_never_holds_the_secret_in_clear() -> None:
    secret = RepositoryKeys.generate().master_secret
    data = make_slot_file(secret, b"pass", FAST_KDF, SYSTEM_CLOCK.now())
    assert secret not in data
    assert secret.hex().encode() not in data


@pytest.mark.parametrize(
    "damage",
    [
        lambda document: document.pop("wrapped"),
        lambda document: document.update(version=99),
        lambda document: document["kdf"].update(algorithm="scrypt"),
        lambda document: document.update(wrapped="not base64!"),
    ],
    ids=["missing-field", "unknown-version", "unknown-algorithm", "bad-base64"],
)
def test_a_damaged_slot_file_is_rejected(damage: object) -> None:
    data = make_slot_file(RepositoryKeys.generate().master_secret, b"pass", FAST_KDF, SYSTEM_CLOCK.now())
    document = json.loads(data)
    damage(document)  # type: ignore[operator]
    with pytest.raises(IntegrityError):
        parse_slot_file("slot", json.dumps(document).encode())
    with pytest.raises(IntegrityError):
        parse_slot_file("slot", b"not json at all")


# -- key slots of a repository -----------------------------------------------------------------


@pytest.fixture
def repository(memory_storage: MemoryStorage) -> Repository:
    return Repository.create(memory_storage, b"first", kdf=FAST_KDF)


def slot_ids(repository: Repository) -> set[str]:
    return {slot.id for slot in list_key_slots(repository.storage)}


def test_an_added_key_opens_the_same_repository(repository: Repository) -> None:
    identifier = repository.add_key(b"second", FAST_KDF)
    assert identifier in slot_ids(repository)
    assert len(slot_ids(repository)) == 2
    reopened = Repository.open(repository.storage, b"second")
    assert reopened.keys.master_secret == repository.keys.master_secret
    assert reopened.config == repository.config


def test_a_wrong_passphrase_raises_wrong_passphrase(repository: Repository) -> None:
    with pytest.raises(WrongPassphrase) as raised:
        Repository.open(repository.storage, b"not it")
    assert raised.value.exit_code == 12
    assert raised.value.hint


def test_changing_the_passphrase_replaces_the_slot(repository: Repository) -> None:
    before = slot_ids(repository)
    new_id = repository.change_passphrase(b"first", b"renewed")
    assert slot_ids(repository) == {new_id}
    assert new_id not in before
    assert Repository.open(repository.storage, b"renewed").keys.master_secret == repository.keys.master_secret
    with pytest.raises(WrongPassphrase):
        Repository.open(repository.storage, b"first")
    new_slot = next(iter(list_key_slots(repository.storage)))
    assert new_slot.kdf == FAST_KDF


def test_changing_the_passphrase_with_a_wrong_current_one_fails(repository: Repository) -> None:
    with pytest.raises(WrongPassphrase):
        repository.change_passphrase(b"guess", b"renewed")
    assert Repository.open(repository.storage, b"first")


def test_removing_another_key_revokes_it(repository: Repository) -> None:
    second = repository.add_key(b"second", FAST_KDF)
    repository.remove_key(second[:12], current_passphrase=b"first")
    assert second not in slot_ids(repository)
    with pytest.raises(WrongPassphrase):
        Repository.open(repository.storage, b"second")
    assert Repository.open(repository.storage, b"first")


def test_removing_the_only_key_is_refused(repository: Repository) -> None:
    (only,) = slot_ids(repository)
    with pytest.raises(ResguardoError, match="only key"):
        repository.remove_key(only, current_passphrase=b"something else")
    assert slot_ids(repository) == {only}


def test_removing_the_key_in_use_is_refused(repository: Repository) -> None:
    repository.add_key(b"second", FAST_KDF)
    in_use = next(slot.id for slot in list_key_slots(repository.storage) if slot.unlock(b"first"))
    with pytest.raises(ResguardoError, match="you are using"):
        repository.remove_key(in_use, current_passphrase=b"first")
    assert in_use in slot_ids(repository)


@pytest.mark.parametrize("identifier", ["", "zzzz", "f" * 64])
def test_removing_an_unknown_key_is_refused(repository: Repository, identifier: str) -> None:
    repository.add_key(b"second", FAST_KDF)
    with pytest.raises(ResguardoError, match="no single key"):
        repository.remove_key(identifier, current_passphrase=b"first")
    assert len(slot_ids(repository)) == 2


def test_removing_by_an_ambiguous_prefix_is_refused(repository: Repository) -> None:
    first_digits: dict[str, str] = {}
    for number in range(17):  # 17 slots over 16 hex digits: two must share their first one
        identifier = repository.add_key(b"extra %d" % number, FAST_KDF)
        if identifier[0] in first_digits:
            break
        first_digits[identifier[0]] = identifier
    before = slot_ids(repository)
    with pytest.raises(ResguardoError, match="no single key"):
        repository.remove_key(identifier[0], current_passphrase=b"first")
    assert slot_ids(repository) == before


def test_a_damaged_slot_is_skipped_and_the_others_still_open(repository: Repository) -> None:
    repository.add_key(b"second", FAST_KDF)
    repository.storage.save(KEYS_PREFIX + "garbage", b"{ not a slot")
    assert len(slot_ids(repository)) == 2
    assert Repository.open(repository.storage, b"second")
