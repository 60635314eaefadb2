"""The storage credentials of a catalog repository, revealed for a worker about to open it.

S3 keys and an SSH private key (with its passphrase) are sealed in the catalog; the server's SSH host
key is a plain option (``ssh_host_key``: public, but it decides whom the worker trusts). They are
revealed here, in the worker's memory only, and handed to the storage's constructor: never to the
process's environment, a file, a log, the run's log or its error.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from resguardo.backends.credentials import StorageCredentials
from resguardo.catalog import SecretKey, SecretName, queries
from resguardo.catalog.models import Repository as RepositoryRecord
from resguardo.core.errors import ConfigurationError

HOST_KEY_OPTION = "ssh_host_key"
S3_SECRETS = (SecretName.S3_ACCESS_KEY_ID, SecretName.S3_SECRET_ACCESS_KEY)
SSH_SECRETS = (SecretName.SSH_PRIVATE_KEY, SecretName.SSH_PASSWORD)
CREDENTIAL_SECRETS = (*S3_SECRETS, *SSH_SECRETS)


def _scheme(url: str) -> str:
    """Return ``s3``, ``sftp`` or ``local`` for a repository location."""
    for scheme in ("s3", "sftp"):
        if url.startswith(f"{scheme}://"):
            return scheme
    return "local"


def _check_held(record: RepositoryRecord, scheme: str, held: set[SecretName]) -> None:
    """Check that the credentials set fit the repository's kind of storage and are complete.

    Raises:
        ConfigurationError: credentials of another kind of storage are set, one S3 key lacks its
            partner, or an SSH passphrase is set without the private key it opens.
    """
    allowed = {"s3": set(S3_SECRETS), "sftp": set(SSH_SECRETS), "local": set()}[scheme]
    foreign = sorted(name.value for name in held - allowed)
    if foreign:
        raise ConfigurationError(
            f"repository {record.name!r} is on {scheme} storage but holds {', '.join(foreign)}, "
            "which that storage does not use",
            "remove those secrets from the repository (they are never sent anywhere)",
        )
    if scheme == "s3" and len(held) == 1:
        [missing] = set(S3_SECRETS) - held
        raise ConfigurationError(
            f"repository {record.name!r} has one S3 key sealed but not {missing.value}",
            "set both s3_access_key_id and s3_secret_access_key, or neither (the worker's own then)",
        )
    if held == {SecretName.SSH_PASSWORD}:
        raise ConfigurationError(
            f"repository {record.name!r} has an ssh_password but no ssh_private_key: logins to SFTP "
            "servers are by key only, and ssh_password is the passphrase of that key",
            "set the repository's ssh_private_key, or remove its ssh_password",
        )


def _host_keys(record: RepositoryRecord) -> str | None:
    """Return the ``ssh_host_key`` option of an SFTP repository.

    Raises:
        ConfigurationError: it is set but is not text.
    """
    value = (record.options or {}).get(HOST_KEY_OPTION)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(
            f"the {HOST_KEY_OPTION} option of repository {record.name!r} must be text",
            "give the server's public host key as 'TYPE BASE64' (ssh-keyscan output without the host)",
        )
    return value


def storage_credentials(
    session: Session, secret_key: SecretKey, record: RepositoryRecord
) -> StorageCredentials | None:
    """Reveal the storage credentials of a repository; None when it has none (the worker's own are used).

    Never log or show what this returns.

    Raises:
        ConfigurationError: the credentials do not fit the storage, or are incomplete.
        SecretKeyError: the catalog key does not open them.
    """
    scheme = _scheme(record.url)
    held = {name for name in record.secret_names if name in CREDENTIAL_SECRETS}
    _check_held(record, scheme, held)
    host_keys = _host_keys(record) if scheme == "sftp" else None
    if not held and host_keys is None:
        return None
    revealed = {name: queries.reveal_secret(session, secret_key, record.id, name) for name in held}
    return StorageCredentials(
        s3_access_key_id=revealed.get(SecretName.S3_ACCESS_KEY_ID),
        s3_secret_access_key=revealed.get(SecretName.S3_SECRET_ACCESS_KEY),
        ssh_private_key=revealed.get(SecretName.SSH_PRIVATE_KEY),
        ssh_key_passphrase=revealed.get(SecretName.SSH_PASSWORD),
        ssh_host_keys=host_keys,
        origin=f"of repository {record.name!r} in the catalog",
    )


def credentials_used(credentials: StorageCredentials | None) -> str:
    """Return which credentials a storage is opened with, for the run's log (names, never values)."""
    if credentials is None:
        return "the worker's own credentials"
    parts = []
    if credentials.has_s3_keys:
        parts.append("the S3 keys")
    if credentials.ssh_private_key is not None:
        parts.append("the SSH key")
    if credentials.ssh_host_keys is not None:
        parts.append("the SSH host key")
    return " and ".join(parts) + " of the catalog"
