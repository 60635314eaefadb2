"""Encryption, authentication and keyed hashing of everything the repository stores.

* Every stored object is an *envelope*: a random 12-byte nonce followed by its AES-256-GCM
  ciphertext and 16-byte tag. Changing any byte makes decryption fail.
* A 64-byte random *master secret* never leaves memory unwrapped. Three sub-keys are derived from
  it with BLAKE3's key-derivation mode: the encryption key, the blob-ID key (keyed BLAKE3, so IDs
  reveal nothing about the plaintext to someone without the key) and the chunker key (the gear
  table of the content-defined chunker, so chunk boundaries differ between repositories).
* Key slots wrap the master secret with a key derived from a passphrase by Argon2id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from resguardo.core.errors import IntegrityError

NONCE_SIZE = 12
TAG_SIZE = 16
ENVELOPE_OVERHEAD = NONCE_SIZE + TAG_SIZE
MASTER_SECRET_SIZE = 64
ID_SIZE = 32

ENCRYPTION_CONTEXT = "resguardo 2026-11 repository encryption key v1"
BLOB_ID_CONTEXT = "resguardo 2026-11 blob identifier key v1"
CHUNKER_CONTEXT = "resguardo 2026-11 chunker gear table key v1"


def derive_subkey(master_secret: bytes, context: str) -> bytes:
    """Return a 32-byte key for ``context`` derived from ``master_secret`` (BLAKE3 derive_key mode)."""
    return blake3.blake3(master_secret, derive_key_context=context).digest()


def plain_id(data: bytes | memoryview) -> bytes:
    """Return the unkeyed BLAKE3 hash of ``data``: the name of pack, index and snapshot files."""
    return blake3.blake3(data).digest()


@dataclass(frozen=True, slots=True)
class KdfParameters:
    """Argon2id parameters used to turn a passphrase into a key-wrapping key.

    The defaults (32 MiB, 4 passes, 4 lanes; about a third of a second here) are above every
    current OWASP recommendation for Argon2id, while keeping the memory a command needs to open a
    repository below that of comparable tools. Each key slot stores its own parameters.
    """

    memory_kib: int = 32 * 1024
    iterations: int = 4
    lanes: int = 4

    def derive(self, passphrase: bytes, salt: bytes) -> bytes:
        """Return the 32-byte key Argon2id derives from ``passphrase`` and ``salt``."""
        function = Argon2id(
            salt=salt,
            length=32,
            iterations=self.iterations,
            lanes=self.lanes,
            memory_cost=self.memory_kib,
        )
        return function.derive(passphrase)


def seal(key: bytes, plaintext: bytes | memoryview, associated: bytes | None = None) -> bytes:
    """Encrypt and authenticate ``plaintext`` with AES-256-GCM under a fresh random nonce.

    Returns:
        nonce || ciphertext || tag.
    """
    nonce = os.urandom(NONCE_SIZE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def open_sealed(key: bytes, envelope: bytes | memoryview, associated: bytes | None = None) -> bytes:
    """Authenticate and decrypt an envelope made by :func:`seal`.

    Raises:
        IntegrityError: the envelope is too short, was modified, or belongs to another key.
    """
    if len(envelope) < ENVELOPE_OVERHEAD:
        raise IntegrityError("encrypted object is truncated")
    view = memoryview(envelope)
    try:
        return AESGCM(key).decrypt(view[:NONCE_SIZE], view[NONCE_SIZE:], associated)
    except InvalidTag:
        raise IntegrityError("encrypted object failed authentication (damaged or wrong key)") from None


class RepositoryKeys:
    """The sub-keys of one repository, derived from its master secret.

    Args:
        master_secret: the 64-byte secret from an unlocked key slot.
    """

    def __init__(self, master_secret: bytes) -> None:
        if len(master_secret) != MASTER_SECRET_SIZE:
            raise IntegrityError("master secret has the wrong length")
        self.master_secret = master_secret
        self.encryption_key = derive_subkey(master_secret, ENCRYPTION_CONTEXT)
        self.blob_id_key = derive_subkey(master_secret, BLOB_ID_CONTEXT)
        self.chunker_key = derive_subkey(master_secret, CHUNKER_CONTEXT)
        self._cipher = AESGCM(self.encryption_key)

    @classmethod
    def generate(cls) -> RepositoryKeys:
        """Return keys from a fresh random master secret."""
        return cls(os.urandom(MASTER_SECRET_SIZE))

    def blob_id(self, data: bytes | memoryview) -> bytes:
        """Return the 32-byte keyed BLAKE3 identifier of a blob's plaintext."""
        return blake3.blake3(data, key=self.blob_id_key).digest()

    def encrypt(self, plaintext: bytes | memoryview) -> bytes:
        """Return the envelope of ``plaintext`` under the repository's encryption key."""
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._cipher.encrypt(nonce, plaintext, None)

    def decrypt(self, envelope: bytes | memoryview) -> bytes:
        """Return the plaintext of an envelope made by :meth:`encrypt`.

        Raises:
            IntegrityError: the envelope was modified or truncated.
        """
        if len(envelope) < ENVELOPE_OVERHEAD:
            raise IntegrityError("encrypted object is truncated")
        view = memoryview(envelope)
        try:
            return self._cipher.decrypt(view[:NONCE_SIZE], view[NONCE_SIZE:], None)
        except InvalidTag:
            raise IntegrityError("encrypted object failed authentication (damaged)") from None
