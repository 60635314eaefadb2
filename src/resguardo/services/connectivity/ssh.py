"""The SSH steps of a test: the host key matches the stored one, the sealed key logs in, SFTP opens.

The client's private key (and passphrase) are revealed by the caller, in memory only; the report
names keys by fingerprint, never by content.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

import paramiko

from resguardo.backends._sftp_connect import (
    AuthenticationFailed,
    Credentials,
    HostKeyError,
    SftpLocation,
    fingerprint,
    open_transport,
)
from resguardo.core.errors import ConfigurationError
from resguardo.services.connectivity.network import STEP_TIMEOUT_SECONDS
from resguardo.services.connectivity.report import FAILED, OK, Report


@dataclass(frozen=True)
class SshLogin:
    """How to log in to a client: where, as whom, with which key, trusting which host key."""

    host: str
    port: int
    user: str
    host_key: str
    private_key: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)
    origin: str = ""

    @property
    def target(self) -> str:
        """Return ``user@host:port`` for the report."""
        return f"{self.user}@{self.host}:{self.port}"


def _offered_host_key(login: SshLogin, timeout: float) -> paramiko.PKey | None:
    """Return the host key the server offers (no login), or None when it cannot be had."""
    try:
        sock = socket.create_connection((login.host, login.port), timeout=timeout)
    except OSError:
        return None
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    except (OSError, EOFError, paramiko.SSHException):
        return None
    finally:
        transport.close()


def _missing_credentials(report: Report, login: SshLogin, timeout: float) -> bool:
    """Add failed items for a missing host key or private key; return True when one is missing."""
    missing = False
    if not login.host_key.strip():
        offered = _offered_host_key(login, timeout)
        seen = f"; the server offers {offered.get_name()} {fingerprint(offered)}" if offered else ""
        report.add(
            "host key known",
            login.target,
            FAILED,
            f"no host key is stored for this client{seen}",
            "check that fingerprint with the server's administrator, then store the key: "
            f'resguardo client edit {report.client} --ssh-host-key "$(ssh-keyscan -p {login.port} '
            f"-t ed25519 {login.host} | cut -d' ' -f2-)\"",
        )
        missing = True
    if login.private_key is None:
        report.add(
            "SSH authentication",
            login.target,
            FAILED,
            "no SSH private key is sealed for this client",
            f"resguardo client edit {report.client} --ssh-key-file PRIVATE_KEY_FILE, and add its public "
            f"key to ~{login.user}/.ssh/authorized_keys on the client",
        )
        missing = True
    return missing


def open_ssh(
    report: Report, login: SshLogin, timeout: float = STEP_TIMEOUT_SECONDS
) -> paramiko.Transport | None:
    """Connect, check the host key against the stored one, log in with the sealed key.

    Returns:
        the logged-in transport (the caller closes it), or None after adding the failed item.
    """
    if _missing_credentials(report, login, timeout):
        return None
    location = SftpLocation(login.user, login.host, login.port, "/")
    credentials = Credentials(
        key_text=login.private_key,
        key_passphrase=login.passphrase,
        host_keys_text=login.host_key,
        origin=login.origin,
    )
    try:
        transport = open_transport(location, credentials, timeout)
    except HostKeyError as error:
        report.add("host key matches", login.target, FAILED, error.message, error.hint or "")
        return None
    except AuthenticationFailed as error:
        report.add("host key matches", login.target, OK, "the server's host key is the stored one")
        report.add("SSH authentication", login.target, FAILED, error.message, error.hint or "")
        return None
    except ConfigurationError as error:
        report.add("SSH authentication", login.target, FAILED, error.message, error.hint or "")
        return None
    except (OSError, EOFError, paramiko.SSHException) as error:
        report.add(
            "SSH connection",
            login.target,
            FAILED,
            f"the SSH handshake failed: {error or type(error).__name__}",
            "check that an SSH server (not another service) listens on that port",
        )
        return None
    report.add("host key matches", login.target, OK, "the server's host key is the stored one")
    report.add("SSH authentication", login.target, OK, f"logged in as {login.user} with the sealed key")
    return transport


def open_sftp(report: Report, transport: paramiko.Transport, target: str) -> paramiko.SFTPClient | None:
    """Open an SFTP session on ``transport``; None after adding the failed item."""
    try:
        sftp = paramiko.SFTPClient.from_transport(transport)
    except (OSError, EOFError, paramiko.SSHException) as error:
        sftp = None
        reason = str(error) or type(error).__name__
    else:
        reason = "the server refused the subsystem"
    if sftp is None:
        report.add(
            "SFTP available",
            target,
            FAILED,
            f"no SFTP session: {reason}",
            "enable the sftp subsystem in the client's sshd_config (Subsystem sftp internal-sftp)",
        )
        return None
    sftp.get_channel().settimeout(STEP_TIMEOUT_SECONDS)
    return sftp
