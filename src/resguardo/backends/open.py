"""Turn a repository location given by a person into a Storage."""

from __future__ import annotations

from resguardo.backends.base import Storage
from resguardo.backends.local import LocalStorage
from resguardo.core.errors import ConfigurationError

SUPPORTED = "a local directory path, local:PATH, or sftp://USER@HOST:PORT/PATH"


def open_storage(
    location: str, *, sftp_key: str | None = None, sftp_known_hosts: str | None = None
) -> Storage:
    """Return the Storage for ``location``: a directory path, ``local:PATH`` or ``sftp://...``.

    Args:
        location: where the repository is.
        sftp_key: for ``sftp://``, the private key file to log in with (else ``RESGUARDO_SFTP_KEY``,
            the ssh-agent and the usual keys of ``~/.ssh``).
        sftp_known_hosts: for ``sftp://``, the known_hosts file (else ``RESGUARDO_SFTP_KNOWN_HOSTS``,
            then ``~/.ssh/known_hosts``).

    Raises:
        ConfigurationError: the location is empty, malformed, or names a scheme this version does not support.
    """
    if not location:
        raise ConfigurationError("no repository given", "pass --repo PATH or set RESGUARDO_REPOSITORY")
    if location.startswith("local:"):
        return LocalStorage(location.removeprefix("local:"))
    scheme, separator, _rest = location.partition("://")
    if separator and scheme == "sftp":
        from resguardo.backends.sftp import SftpStorage

        return SftpStorage(location, key_file=sftp_key, known_hosts=sftp_known_hosts)
    if separator:
        raise ConfigurationError(
            f"repository scheme {scheme!r} is not supported in {location!r}", f"use {SUPPORTED}"
        )
    return LocalStorage(location)
