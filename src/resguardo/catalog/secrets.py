"""The key that seals repository secrets in the catalog, kept outside the catalog, and sealing itself.

The key is 32 random bytes, from ``RESGUARDO_SECRET_KEY`` (base64) when set, else from the file
``catalog.key`` in the data directory (created with mode 0600 on first use). A stolen database file or
dump therefore holds no usable secret. Each value is sealed with AES-256-GCM under a fresh nonce,
authenticated with what it belongs to (the repository's ID and the secret's name), so that a sealed
value moved to another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from resguardo.core.errors import SecretKeyError

SECRET_KEY_ENV = "RESGUARDO_SECRET_KEY"  # noqa: S105 (the variable's name)
KEY_FILE_NAME = "catalog.key"
KEY_SIZE = 32
NONCE_SIZE = 12


@dataclass(frozen=True)
class SecretKey:
    """The catalog's secret key. Its repr shows the fingerprint only.

    Args:
        material: the 32 key bytes.
    """

    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.material) != KEY_SIZE:
            raise SecretKeyError(
                f"the catalog's secret key must be {KEY_SIZE} bytes, not {len(self.material)}"
            )

    @property
    def key_id(self) -> str:
        """Return a short fingerprint naming the key (safe to store and show)."""
        return hashlib.sha256(b"resguardo catalog key id\0" + self.material).hexdigest()[:16]

    @classmethod
    def generate(cls) -> SecretKey:
        """Return a new random key."""
        return cls(os.urandom(KEY_SIZE))

    def encoded(self) -> str:
        """Return the key as base64, the form ``RESGUARDO_SECRET_KEY`` and the key file hold."""
        return base64.b64encode(self.material).decode("ascii")

    @classmethod
    def decode(cls, text: str, origin: str) -> SecretKey:
        """Return the key written as base64 in ``text``; ``origin`` names where it came from.

        Raises:
            SecretKeyError: the text is not the base64 of 32 bytes.
        """
        try:
            material = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SecretKeyError(f"the catalog's secret key in {origin} is not valid base64") from None
        if len(material) != KEY_SIZE:
            raise SecretKeyError(
                f"the catalog's secret key in {origin} must be {KEY_SIZE} bytes, not {len(material)}"
            )
        return cls(material)

    def seal(self, plaintext: str, context: bytes) -> bytes:
        """Return ``plaintext`` encrypted and authenticated with ``context``: nonce || ciphertext || tag."""
        nonce = os.urandom(NONCE_SIZE)
        return nonce + AESGCM(self.material).encrypt(nonce, plaintext.encode("utf-8"), context)

    def open(self, sealed: bytes, context: bytes) -> str:
        """Return the plaintext of ``sealed``.

        Raises:
            SecretKeyError: the value does not open with this key and context (another key sealed it,
                or it was altered or moved).
        """
        try:
            plaintext = AESGCM(self.material).decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], context)
        except (InvalidTag, ValueError):
            raise SecretKeyError(
                "a secret of the catalog does not open with this secret key (another key sealed it, "
                "or it was altered)"
            ) from None
        return plaintext.decode("utf-8")


def key_file_path(data_dir: Path) -> Path:
    """Return where the key file of ``data_dir`` is."""
    return data_dir / KEY_FILE_NAME


def load_secret_key(data_dir: Path, *, create: bool = False) -> SecretKey:
    """Return the catalog's secret key: ``RESGUARDO_SECRET_KEY`` if set, else the key file of ``data_dir``.

    Args:
        data_dir: the data directory holding ``catalog.key``.
        create: make a new key file (mode 0600) when there is none and the variable is not set.

    Raises:
        SecretKeyError: no key is set and ``create`` is False, or the key is malformed.
    """
    from_environment = os.environ.get(SECRET_KEY_ENV)
    if from_environment:
        return SecretKey.decode(from_environment, SECRET_KEY_ENV)
    path = key_file_path(data_dir)
    if path.exists():
        return SecretKey.decode(path.read_text(encoding="ascii", errors="replace"), str(path))
    if not create:
        raise SecretKeyError(
            f"the catalog's secret key is missing: neither {SECRET_KEY_ENV} nor {path} is set"
        )
    return _create_key_file(path)


def _create_key_file(path: Path) -> SecretKey:
    """Write a new key to ``path``, readable by its owner only, and return it; if another process
    created the file first, return the key it holds instead.

    Raises:
        SecretKeyError: the file another process wrote is malformed.
    """
    key = SecretKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return SecretKey.decode(path.read_text(encoding="ascii", errors="replace"), str(path))
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key.encoded() + "\n")
        file.flush()
        os.fsync(file.fileno())
    return key
