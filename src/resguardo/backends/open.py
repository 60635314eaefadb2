"""Turn a repository location given by a person into a Storage."""

from __future__ import annotations

import os

from resguardo.backends.base import Storage
from resguardo.backends.credentials import StorageCredentials
from resguardo.backends.local import LocalStorage
from resguardo.core.errors import ConfigurationError

S3_ENDPOINT_ENV = "RESGUARDO_S3_ENDPOINT"
S3_PATH_STYLE_ENV = "RESGUARDO_S3_PATH_STYLE"
SUPPORTED = "a local directory path, local:PATH, sftp://USER@HOST:PORT/PATH or s3://BUCKET/PREFIX"


def open_storage(
    location: str,
    *,
    s3_endpoint: str | None = None,
    s3_path_style: bool | None = None,
    sftp_key: str | None = None,
    sftp_known_hosts: str | None = None,
    credentials: StorageCredentials | None = None,
) -> Storage:
    """Return the Storage for ``location``: a directory path, ``local:PATH``, ``sftp://...`` or
    ``s3://BUCKET/PREFIX``.

    Args:
        location: where the repository is.
        s3_endpoint: the S3 server for ``s3://`` locations; None: ``RESGUARDO_S3_ENDPOINT``, else
            botocore's own lookup (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, the profile), else AWS.
        s3_path_style: address buckets in the URL's path; None: ``RESGUARDO_S3_PATH_STYLE``, else
            botocore chooses.
        sftp_key: for ``sftp://``, the private key file to log in with (else ``RESGUARDO_SFTP_KEY``,
            the ssh-agent and the usual keys of ``~/.ssh``).
        sftp_known_hosts: for ``sftp://``, the known_hosts file (else ``RESGUARDO_SFTP_KNOWN_HOSTS``,
            then ``~/.ssh/known_hosts``).
        credentials: keys given in memory: S3 keys for ``s3://``, a private key and host keys for
            ``sftp://`` (each replaces the lookup above when set); never logged or shown.

    Raises:
        ConfigurationError: the location is empty, malformed, or names a scheme this version does not support.
    """
    if not location:
        raise ConfigurationError("no repository given", "pass --repo PATH or set RESGUARDO_REPOSITORY")
    if location.startswith("local:"):
        return LocalStorage(location.removeprefix("local:"))
    scheme, separator, _rest = location.partition("://")
    if separator and scheme == "s3":
        return _open_s3(location, s3_endpoint, s3_path_style, credentials)
    if separator and scheme == "sftp":
        from resguardo.backends.sftp import SftpStorage

        return SftpStorage(location, key_file=sftp_key, known_hosts=sftp_known_hosts, given=credentials)
    if separator:
        raise ConfigurationError(
            f"repository scheme {scheme!r} is not supported in {location!r}", f"use {SUPPORTED}"
        )
    return LocalStorage(location)


def _open_s3(
    location: str, endpoint: str | None, path_style: bool | None, credentials: StorageCredentials | None
) -> Storage:
    from resguardo.backends.s3 import S3Storage, parse_location

    bucket, prefix = parse_location(location)
    if path_style is None and os.environ.get(S3_PATH_STYLE_ENV):
        path_style = os.environ[S3_PATH_STYLE_ENV].strip().lower() not in ("0", "false", "no")
    return S3Storage(
        bucket,
        prefix,
        endpoint_url=endpoint or os.environ.get(S3_ENDPOINT_ENV) or None,
        path_style=path_style,
        given=credentials,
    )
