"""The free-space step of a test: room in the target repository for what the client would back up.

Local repositories are measured with ``shutil.disk_usage``; SFTP ones with the server's
``statvfs@openssh.com`` extension when it has it; S3 buckets have no such figure.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import paramiko
from sqlalchemy.orm import Session

from resguardo.backends._sftp_connect import Credentials, open_transport, parse_location
from resguardo.catalog import SecretKey
from resguardo.catalog.models import Repository
from resguardo.core.errors import ResguardoError
from resguardo.services.connectivity.network import STEP_TIMEOUT_SECONDS
from resguardo.services.connectivity.report import FAILED, OK, SKIPPED, WARNING, Report, human_size
from resguardo.services.storage_credentials import storage_credentials

STATVFS_EXTENSION = "statvfs@openssh.com"


def check_free_space(
    report: Report, session: Session, key: SecretKey, repository: Repository | None, needed: int
) -> None:
    """Add the free space of ``repository``, compared with ``needed`` bytes (the estimated size)."""
    if repository is None:
        report.add(
            "free space",
            "repository",
            SKIPPED,
            "no repository given",
            "name a repository or a job to measure its free space",
        )
        return
    target = f"{repository.name} ({repository.url})"
    if repository.url.startswith("s3://"):
        report.add("free space", target, SKIPPED, "not measured: object storage has no free-space figure")
        return
    if repository.url.startswith("sftp://"):
        free = _sftp_free(report, session, key, repository, target)
    else:
        free = _local_free(report, repository.url.removeprefix("local:"), target)
    if free is None:
        return
    _compare(report, target, free, needed)


def _local_free(report: Report, location: str, target: str) -> int | None:
    """Return the free bytes where the local repository is (or would be created)."""
    path = Path(location)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError as error:
        report.add(
            "free space",
            target,
            FAILED,
            f"cannot measure {path}: {error.strerror or error}",
            "check the repository's location and its permissions",
        )
        return None


def _statvfs(sftp: paramiko.SFTPClient, path: str) -> int:
    """Return the bytes available to the user at ``path`` (the server's statvfs extension).

    Raises:
        OSError, paramiko.SSHException: the server does not have the extension, or it failed.
    """
    _kind, message = sftp._request(paramiko.sftp.CMD_EXTENDED, STATVFS_EXTENSION, path)
    if message is None:
        raise OSError("no answer")
    _block_size, fragment_size = message.get_int64(), message.get_int64()
    _blocks, _free, available = message.get_int64(), message.get_int64(), message.get_int64()
    return int(fragment_size * available)


def _sftp_free(
    report: Report, session: Session, key: SecretKey, repository: Repository, target: str
) -> int | None:
    """Return the free bytes at an SFTP repository, or None after adding a warning or failure."""
    try:
        location = parse_location(repository.url)
        given = storage_credentials(session, key, repository)
        credentials = Credentials.from_environment()
        if given is not None and given.ssh_private_key is not None:
            credentials = Credentials(
                key_text=given.ssh_private_key,
                key_passphrase=given.ssh_key_passphrase,
                host_keys_text=given.ssh_host_keys,
                origin=given.origin,
            )
        transport = open_transport(location, credentials, STEP_TIMEOUT_SECONDS)
    except ResguardoError as error:
        report.add("free space", target, FAILED, error.message, error.hint or "")
        return None
    except (OSError, EOFError, paramiko.SSHException) as error:
        report.add("free space", target, FAILED, f"cannot reach the repository's server: {error}", "")
        return None
    try:
        sftp = paramiko.SFTPClient.from_transport(transport)
        if sftp is None:
            raise OSError("no SFTP session")
        sftp.get_channel().settimeout(STEP_TIMEOUT_SECONDS)
        folder = location.path if location.path.startswith("/") else "."
        return _statvfs(sftp, folder)
    except (OSError, EOFError, paramiko.SSHException):
        report.add(
            "free space",
            target,
            WARNING,
            "not measured: the SFTP server does not tell its free space",
            "check the free space on the server itself",
        )
        return None
    finally:
        transport.close()


def _compare(report: Report, target: str, free: int, needed: int) -> None:
    """Add the free-space item: ok when the estimated size fits, failed when it does not."""
    if needed > free:
        report.add(
            "free space",
            target,
            FAILED,
            f"{human_size(free)} free, less than the estimated {human_size(needed)} to back up",
            "free space in the repository's storage, or choose another repository",
            free_bytes=free,
        )
        return
    report.add(
        "free space",
        target,
        OK,
        f"{human_size(free)} free for an estimated {human_size(needed)}",
        free_bytes=free,
    )
