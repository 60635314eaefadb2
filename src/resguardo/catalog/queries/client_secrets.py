"""The sealed secrets of client servers (SSH key, its passphrase, database password) and the plain
credentials beside them (the SSH host key, the database URL), checked before they are stored.

Secrets are sealed with the catalog's :class:`~resguardo.catalog.secrets.SecretKey`, authenticated with
the client's ID and the secret's name, and come back only through :func:`reveal_client_secret`.
Functions flush; the caller commits.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import delete
from sqlalchemy.orm import Session

from resguardo.backends._sftp_keys import host_keys_from_text
from resguardo.catalog.enums import ClientSecretName
from resguardo.catalog.models import Client, ClientSecret
from resguardo.catalog.queries._common import get_or_raise
from resguardo.catalog.queries._sealed import open_sealed, store_sealed
from resguardo.catalog.secrets import SecretKey
from resguardo.core.errors import ConfigurationError, UsageError

DATABASE_SCHEMES = ("postgresql", "postgres", "mysql", "mariadb")


def check_client_credentials(client: Client) -> None:
    """Check the plain credentials of a client: its SSH host key and database URL.

    Raises:
        UsageError: the host key is not a public key, or the database URL is not a postgresql:// or
            mysql:// URL, or holds a password (passwords are sealed: the database_password secret).
    """
    if client.ssh_host_key.strip():
        try:
            host_keys_from_text(client.ssh_host_key, "client", f"of client {client.name!r}")
        except ConfigurationError as error:
            raise UsageError(
                f"ssh_host_key: {error.message}",
                "give the server's public host key as 'TYPE BASE64' (ssh-keyscan -t ed25519 HOST, "
                "without the host name)",
            ) from None
    url = client.database_url.strip()
    if not url:
        return
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UsageError(f"database_url of client {client.name!r} is malformed") from None
    if parts.scheme.lower() not in DATABASE_SCHEMES:
        raise UsageError(
            f"database_url of client {client.name!r} must start with postgresql:// or mysql://",
            "write it like postgresql://backup@db1:5432/ or mysql://backup@db1:3306/",
        )
    if has_password:
        raise UsageError(
            f"database_url of client {client.name!r} must not hold a password",
            "give the password as the client's database_password secret: it is sealed, the URL is not",
        )


def _context(client_id: int, name: ClientSecretName) -> bytes:
    """Return the associated data a client's secret is sealed with: what it belongs to."""
    return f"resguardo catalog client secret\0{client_id}\0{name.value}".encode()


def client_secret_name(name: ClientSecretName | str) -> ClientSecretName:
    """Return the :class:`ClientSecretName` ``name`` names.

    Raises:
        UsageError: it names none.
    """
    try:
        return ClientSecretName(name)
    except ValueError:
        known = ", ".join(member.value for member in ClientSecretName)
        raise UsageError(f"a client has no secret named {name!r}", f"the secrets are: {known}") from None


def set_client_secret(
    session: Session, key: SecretKey, client_id: int, name: ClientSecretName | str, value: str
) -> None:
    """Seal ``value`` as the client's secret ``name``, replacing any earlier value.

    Raises:
        NotFound: no such client.
        UsageError: an unknown secret name, or an empty value.
    """
    secret_name = client_secret_name(name)
    if not value:
        raise UsageError(f"the {secret_name.value} of a client cannot be empty")
    client = get_or_raise(session, Client, client_id, "client")
    context = _context(client.id, secret_name)
    store_sealed(session, key, client, ClientSecret, "client_id", secret_name, value, context)


def remove_client_secret(session: Session, client_id: int, name: ClientSecretName | str) -> None:
    """Remove the client's secret ``name`` (nothing happens if it is not set).

    Raises:
        UsageError: an unknown secret name.
    """
    secret_name = client_secret_name(name)
    session.execute(
        delete(ClientSecret).where(ClientSecret.client_id == client_id, ClientSecret.name == secret_name)
    )
    session.expire_all()


def reveal_client_secret(
    session: Session, key: SecretKey, client_id: int, name: ClientSecretName | str
) -> str | None:
    """Return the clear value of a client's secret, or None when it is not set.

    Never log or show what it returns.

    Raises:
        SecretKeyError: ``key`` is not the key that sealed it, or the stored value was altered.
    """
    secret_name = client_secret_name(name)
    secret = session.get(ClientSecret, (client_id, secret_name))
    if secret is None:
        return None
    return open_sealed(
        key, secret, _context(client_id, secret_name), f"{secret_name.value} of client {client_id}"
    )


def client_secret_names(client: Client) -> list[str]:
    """Return the names of the client's secrets that are set, sorted (never their values)."""
    return sorted(name.value for name in client.secret_names)
