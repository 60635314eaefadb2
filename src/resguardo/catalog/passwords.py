"""Password hashes: Argon2id, written as PHC strings (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``).

The parameters follow OWASP's first recommendation for Argon2id (19 MiB, two passes, one lane); every
hash records its own, so that stronger settings later still verify older hashes, and
:func:`needs_rehash` says when to re-hash at the next login.
"""

from __future__ import annotations

import base64
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

ARGON2_VERSION = 19
SALT_SIZE = 16
HASH_SIZE = 32


@dataclass(frozen=True)
class PasswordParameters:
    """Argon2id costs: memory in KiB, passes over it, and lanes."""

    memory_kib: int = 19 * 1024
    iterations: int = 2
    lanes: int = 1


DEFAULT_PARAMETERS = PasswordParameters()


def _b64(data: bytes) -> str:
    """Return ``data`` in the unpadded base64 of PHC strings."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    """Return the bytes of unpadded base64 ``text``."""
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _derive(password: str, salt: bytes, parameters: PasswordParameters, length: int) -> bytes:
    function = Argon2id(
        salt=salt,
        length=length,
        iterations=parameters.iterations,
        lanes=parameters.lanes,
        memory_cost=parameters.memory_kib,
    )
    return function.derive(password.encode("utf-8"))


def hash_password(password: str, parameters: PasswordParameters = DEFAULT_PARAMETERS) -> str:
    """Return the PHC string of ``password`` hashed with Argon2id under a fresh random salt."""
    salt = os.urandom(SALT_SIZE)
    digest = _derive(password, salt, parameters, HASH_SIZE)
    costs = f"m={parameters.memory_kib},t={parameters.iterations},p={parameters.lanes}"
    return f"$argon2id$v={ARGON2_VERSION}${costs}${_b64(salt)}${_b64(digest)}"


def _parse(encoded: str) -> tuple[PasswordParameters, bytes, bytes] | None:
    """Return the parameters, salt and digest of a PHC string, or None if it is not an Argon2id hash."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[1] != "argon2id" or parts[2] != f"v={ARGON2_VERSION}":
        return None
    try:
        costs = dict(item.split("=", 1) for item in parts[3].split(","))
        parameters = PasswordParameters(int(costs["m"]), int(costs["t"]), int(costs["p"]))
        return parameters, _unb64(parts[4]), _unb64(parts[5])
    except (KeyError, ValueError):
        return None


def verify_password(password: str, encoded: str | None) -> bool:
    """Return True when ``password`` matches the PHC string ``encoded`` (False for no or a malformed hash)."""
    if not encoded:
        return False
    parsed = _parse(encoded)
    if parsed is None:
        return False
    parameters, salt, digest = parsed
    return hmac.compare_digest(_derive(password, salt, parameters, len(digest)), digest)


def needs_rehash(encoded: str, parameters: PasswordParameters = DEFAULT_PARAMETERS) -> bool:
    """Return True when ``encoded`` was made with other parameters than ``parameters``."""
    parsed = _parse(encoded)
    return parsed is None or parsed[0] != parameters
