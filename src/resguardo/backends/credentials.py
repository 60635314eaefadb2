"""Credentials a caller hands to a storage explicitly, in memory, instead of the process's own.

The service keeps each repository's S3 keys and SSH private key sealed in its catalog; a worker reveals
them in its memory and passes them here, to :func:`resguardo.backends.open.open_storage`. They never go
through the process's environment, a file, a log or an error message: the secret fields are left out of
``repr``, and the storages name only where the credentials came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StorageCredentials:
    """Explicit credentials for SFTP and S3 storages (every field optional).

    Attributes:
        s3_access_key_id: the S3 access key ID (with ``s3_secret_access_key``, replaces botocore's chain).
        s3_secret_access_key: the S3 secret key.
        ssh_private_key: the text of an OpenSSH or PEM private key, the only key offered to the server.
        ssh_key_passphrase: the passphrase of ``ssh_private_key`` when it is protected by one.
        ssh_host_keys: the server's public host key(s), one per line, as ``TYPE BASE64`` (a ``.pub``
            file, ``ssh-keyscan`` output without the host) or a known_hosts line; the only keys accepted.
        origin: says where they came from in messages (e.g. "sealed in the catalog for repository 'x'").
    """

    s3_access_key_id: str | None = field(default=None, repr=False)
    s3_secret_access_key: str | None = field(default=None, repr=False)
    ssh_private_key: str | None = field(default=None, repr=False)
    ssh_key_passphrase: str | None = field(default=None, repr=False)
    ssh_host_keys: str | None = None
    origin: str = "given explicitly"

    @property
    def has_s3_keys(self) -> bool:
        """Return True when both S3 keys are given."""
        return bool(self.s3_access_key_id and self.s3_secret_access_key)
