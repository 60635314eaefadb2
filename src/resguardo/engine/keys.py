"""Key slots: the repository's master secret wrapped under passphrase-derived keys.

A key slot is a small JSON file ``keys/<id>`` (``id`` = BLAKE3 of the file). Several slots may
wrap the same master secret, so several people or machines each hold their own passphrase and one
can be revoked without re-encrypting anything.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime

from resguardo.core.errors import IntegrityError
from resguardo.engine.crypto import KdfParameters, open_sealed, plain_id, seal

KEY_FORMAT_VERSION = 1
SLOT_ASSOCIATED_DATA = b"resguardo key slot v1"


@dataclass(frozen=True, slots=True)
class KeySlot:
    """One parsed key slot file; ``wrapped`` is the sealed master secret."""

    id: str
    created: str
    hostname: str
    username: str
    kdf: KdfParameters
    salt: bytes
    wrapped: bytes

    def unlock(self, passphrase: bytes) -> bytes | None:
        """Return the master secret when ``passphrase`` opens this slot, else None."""
        wrapping_key = self.kdf.derive(passphrase, self.salt)
        try:
            return open_sealed(wrapping_key, self.wrapped, SLOT_ASSOCIATED_DATA)
        except IntegrityError:
            return None

    def describe(self) -> dict[str, str]:
        """Return the slot's public facts (never the secret) for listing."""
        return {
            "id": self.id,
            "created": self.created,
            "hostname": self.hostname,
            "username": self.username,
            "kdf": f"argon2id m={self.kdf.memory_kib}KiB t={self.kdf.iterations} p={self.kdf.lanes}",
        }


def _current_username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def make_slot_file(master_secret: bytes, passphrase: bytes, kdf: KdfParameters, created: datetime) -> bytes:
    """Return the bytes of a new key slot file wrapping ``master_secret`` under ``passphrase``."""
    salt = os.urandom(16)
    wrapping_key = kdf.derive(passphrase, salt)
    document = {
        "version": KEY_FORMAT_VERSION,
        "created": created.isoformat(),
        "hostname": socket.gethostname(),
        "username": _current_username(),
        "kdf": {
            "algorithm": "argon2id",
            "memory_kib": kdf.memory_kib,
            "iterations": kdf.iterations,
            "lanes": kdf.lanes,
            "salt": base64.b64encode(salt).decode(),
        },
        "wrapped": base64.b64encode(seal(wrapping_key, master_secret, SLOT_ASSOCIATED_DATA)).decode(),
    }
    return json.dumps(document, indent=2).encode() + b"\n"


def slot_id(data: bytes) -> str:
    """Return the identifier (file name) of a key slot file."""
    return plain_id(data).hex()


def parse_slot_file(name: str, data: bytes) -> KeySlot:
    """Parse a key slot file.

    Raises:
        IntegrityError: the file is not a key slot of a known version.
    """
    try:
        document = json.loads(data)
        kdf = document["kdf"]
        if document["version"] != KEY_FORMAT_VERSION or kdf["algorithm"] != "argon2id":
            raise IntegrityError(f"key slot {name} has an unsupported version or algorithm")
        return KeySlot(
            id=name,
            created=str(document["created"]),
            hostname=str(document["hostname"]),
            username=str(document["username"]),
            kdf=KdfParameters(int(kdf["memory_kib"]), int(kdf["iterations"]), int(kdf["lanes"])),
            salt=base64.b64decode(kdf["salt"], validate=True),
            wrapped=base64.b64decode(document["wrapped"], validate=True),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise IntegrityError(f"key slot {name} is damaged: {error}") from None
