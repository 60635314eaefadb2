"""What the sealed secrets of repositories and of clients share: storing a sealed value, and opening it.

Each owner (a repository, a client) has its own table of secrets keyed by (owner ID, name), a ``secrets``
relationship, and its own associated data (``context``) binding a sealed value to what it belongs to.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from resguardo.catalog.secrets import SecretKey
from resguardo.core.errors import SecretKeyError


def store_sealed(  # noqa: PLR0917 (each argument names a part of what is stored)
    session: Session,
    key: SecretKey,
    owner: Any,
    model: type[Any],
    owner_column: str,
    name: Any,
    value: str,
    context: bytes,
) -> None:
    """Seal ``value`` with ``context`` as ``owner``'s secret ``name`` in ``model``, replacing an earlier
    value, and flush."""
    sealed = key.seal(value, context)
    existing = session.get(model, (owner.id, name))
    if existing is None:
        owner.secrets.append(model(**{owner_column: owner.id}, name=name, key_id=key.key_id, sealed=sealed))
    else:
        existing.sealed = sealed
        existing.key_id = key.key_id
    session.flush()


def open_sealed(key: SecretKey, record: Any, context: bytes, what: str) -> str:
    """Return the clear value of a stored secret ``record`` sealed with ``context``.

    Args:
        what: the secret and its owner, for the error (e.g. ``passphrase of repository 3``).

    Raises:
        SecretKeyError: ``key`` is not the key that sealed it, or the stored value was altered.
    """
    if record.key_id != key.key_id:
        raise SecretKeyError(
            f"the {what} was sealed with the catalog key {record.key_id}, "
            f"not with the key given ({key.key_id})"
        )
    return key.open(record.sealed, context)
