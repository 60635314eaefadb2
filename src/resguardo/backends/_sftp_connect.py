"""Reaching an SFTP server: the location syntax, the host key check, key authentication.

A location is ``sftp://[USER@]HOST[:PORT]/PATH``. As with restic, one slash after the host starts a
path relative to the login folder (``sftp://backup@nas/repos/laptop`` is ``repos/laptop`` in the
home folder of ``backup``), and two slashes an absolute one (``sftp://backup@nas//srv/repos/laptop``
is ``/srv/repos/laptop``). The port defaults to 22, the user to the local user's name.

Only keys authenticate: a key given as text (the service's sealed key, see
:mod:`resguardo.backends._sftp_keys`), else an explicit key file when one is given
(``RESGUARDO_SFTP_KEY``), else the keys of a running ssh-agent (``SSH_AUTH_SOCK``) and then
``~/.ssh/id_ed25519``, ``id_ecdsa`` and ``id_rsa``. The server's host key must be one given as text,
or else already be in ``~/.ssh/known_hosts`` (or the file given by ``RESGUARDO_SFTP_KNOWN_HOSTS``) or
``/etc/ssh/ssh_known_hosts``: hashed names and ``[host]:port`` entries are understood, an unknown key is
refused with its fingerprint and a changed one with a warning. No key is ever accepted on trust.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paramiko

from resguardo.backends._sftp_keys import host_keys_from_text, private_key_from_text
from resguardo.core.errors import ConfigurationError, StorageError

KEY_ENV = "RESGUARDO_SFTP_KEY"
KNOWN_HOSTS_ENV = "RESGUARDO_SFTP_KNOWN_HOSTS"
DEFAULT_KEY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa")
SYSTEM_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")
WINDOW_BYTES = 16 * 1024 * 1024
"""The SSH channel window: how many bytes the server may send before waiting for an acknowledgement."""


# paramiko logs a dropped connection from its own threads; the errors raised here say all a person needs,
# so its records must not reach the terminal through logging's last-resort handler.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class HostKeyError(StorageError):
    """The server's host key is not known, or differs from the one known for it."""


class AuthenticationFailed(StorageError):
    """The server accepted none of the keys offered."""


@dataclass(frozen=True, slots=True)
class SftpLocation:
    """Where a repository is on an SFTP server.

    Attributes:
        user: the user to log in as.
        host: the server's name or address (without brackets for IPv6).
        port: the server's SSH port.
        path: the repository folder: absolute when it starts with ``/``, else relative to the login folder.
    """

    user: str
    host: str
    port: int
    path: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == 22 else f":{self.port}"
        return f"sftp://{self.user}@{host}{port}/{self.path}"

    @property
    def known_hosts_name(self) -> str:
        """Return the host as known_hosts names it: ``host``, or ``[host]:port`` for another port than 22."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


def parse_location(text: str) -> SftpLocation:
    """Return the parts of an ``sftp://[USER@]HOST[:PORT]/PATH`` location.

    Raises:
        ConfigurationError: the location is malformed, holds a password, or names no path.
    """
    hint = "write it as sftp://USER@HOST:PORT/relative/path or sftp://USER@HOST:PORT//absolute/path"
    parts = urlsplit(text)
    if parts.scheme != "sftp" or not parts.hostname:
        raise ConfigurationError(f"{text!r} is not an sftp:// location with a host", hint)
    if parts.password is not None:
        raise ConfigurationError(
            "sftp:// locations take no password: only SSH keys are used",
            "remove the password from the location; see 'SFTP repositories' in docs/cli.md for keys",
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(
            f"{text!r} has a '?' or '#' part that an sftp:// location does not take", hint
        )
    try:
        port = parts.port or 22
    except ValueError:
        raise ConfigurationError(f"{text!r} has an invalid port", hint) from None
    path = unquote(parts.path)
    path = path[1:] if path.startswith("//") else path.removeprefix("/")
    if not path.strip("/"):
        raise ConfigurationError(f"{text!r} names no repository folder", hint)
    user = unquote(parts.username) if parts.username else getpass.getuser()
    return SftpLocation(user, parts.hostname, port, path.rstrip("/") or "/")


def home_folder() -> Path:
    """Return the user's home folder: ``$HOME``, else the one the password database gives."""
    return Path(os.path.expanduser("~"))


@dataclass(frozen=True, slots=True)
class Credentials:
    """Which keys to offer and which host keys to trust: files, or keys given as text.

    Attributes:
        key_file: the one key file to offer; None offers the agent's keys and the usual key files.
        known_hosts: the known_hosts file to check host keys against; None means ``~/.ssh/known_hosts``.
        key_text: a private key given as text, the one key offered (before ``key_file``); never shown.
        key_passphrase: the passphrase of ``key_text``, if it has one; never shown.
        host_keys_text: the server's host keys given as text, the only ones trusted (before the files).
        origin: where the keys given as text came from, for messages.
    """

    key_file: str | None = None
    known_hosts: str | None = None
    key_text: str | None = field(default=None, repr=False)
    key_passphrase: str | None = field(default=None, repr=False)
    host_keys_text: str | None = None
    origin: str = "given explicitly"

    @classmethod
    def from_environment(cls, key_file: str | None = None, known_hosts: str | None = None) -> Credentials:
        """Return the given paths, each falling back to its environment variable when not given."""
        return cls(
            key_file or os.environ.get(KEY_ENV) or None,
            known_hosts or os.environ.get(KNOWN_HOSTS_ENV) or None,
        )

    def host_keys_for(self, location: SftpLocation) -> paramiko.HostKeys:
        """Return the host keys to check ``location``'s server against: those given as text, else the
        known_hosts files'.

        Raises:
            ConfigurationError: the keys given as text are malformed, or a file cannot be read.
        """
        if self.host_keys_text is not None:
            return host_keys_from_text(self.host_keys_text, location.known_hosts_name, self.origin)
        return _load_known_hosts(self.known_hosts_files())

    def where_host_keys_are(self) -> str:
        """Return where the trusted host keys come from, for messages."""
        if self.host_keys_text is not None:
            return f"the host key {self.origin}"
        return " or ".join(str(path) for path in self.known_hosts_files())

    def known_hosts_files(self) -> list[Path]:
        """Return the known_hosts files to read: the explicit one, else the user's and the system's."""
        if self.known_hosts is not None:
            return [Path(self.known_hosts).expanduser()]
        return [home_folder() / ".ssh" / "known_hosts", SYSTEM_KNOWN_HOSTS]

    def key_files(self) -> list[Path]:
        """Return the key files to offer: the explicit one, else those of ``~/.ssh`` that exist."""
        if self.key_file is not None:
            return [Path(self.key_file).expanduser()]
        folder = home_folder() / ".ssh"
        return [folder / name for name in DEFAULT_KEY_NAMES if (folder / name).is_file()]


def fingerprint(key: paramiko.PKey) -> str:
    """Return the key's fingerprint as OpenSSH shows it: ``SHA256:`` and unpadded base64."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _load_known_hosts(files: list[Path]) -> paramiko.HostKeys:
    """Return the host keys of the files that exist.

    Raises:
        ConfigurationError: a file exists but cannot be read.
    """
    host_keys = paramiko.HostKeys()
    for path in files:
        if not path.is_file():
            continue
        try:
            host_keys.load(str(path))
        except OSError as error:
            raise ConfigurationError(
                f"cannot read the known_hosts file {path}: {error.strerror or error}"
            ) from None
    return host_keys


def _host_key_types(key_type: str) -> list[str]:
    """Return the host key algorithms that prove a key of the type known_hosts names."""
    return ["rsa-sha2-512", "rsa-sha2-256"] if key_type == "ssh-rsa" else [key_type]


def prefer_known_key_types(
    transport: paramiko.Transport, location: SftpLocation, credentials: Credentials
) -> None:
    """Ask the server first for the host key types known_hosts holds for it, as OpenSSH does."""
    known = credentials.host_keys_for(location).lookup(location.known_hosts_name)
    if not known:
        return
    options = transport.get_security_options()
    wanted = [name for key_type in known for name in _host_key_types(key_type)]
    preferred = [name for name in wanted if name in options.key_types]
    options.key_types = preferred + [name for name in options.key_types if name not in preferred]


def check_host_key(location: SftpLocation, key: paramiko.PKey, credentials: Credentials) -> None:
    """Accept the server's host key only if known_hosts lists it for this host and port.

    Raises:
        HostKeyError: the key is unknown (the message gives its fingerprint and how to add it), or
            known_hosts holds another key of the same type for this host (it changed: an alarm).
    """
    host_keys = credentials.host_keys_for(location)
    name = location.known_hosts_name
    if host_keys.check(name, key):
        return
    shown = fingerprint(key)
    key_type = key.get_name()
    where = credentials.where_host_keys_are()
    known = host_keys.lookup(name)
    if credentials.host_keys_text is not None:
        raise _not_the_given_host_key(name, key_type, shown, where, known is not None and key_type in known)
    if known is not None and key_type in known:
        raise HostKeyError(
            f"WARNING: the host key of {name} has CHANGED: it is now {key_type} {shown}, "
            f"not the {fingerprint(known[key_type])} that {where} holds. Someone may be "
            "intercepting the connection (a man-in-the-middle attack), or the server's key was replaced. "
            "Nothing was sent.",
            "ask the server's administrator whether its key changed; only if it did, and the new "
            f"fingerprint is {shown}, remove the old entry with: ssh-keygen -R '{name}'"
            + (f" -f {credentials.known_hosts}" if credentials.known_hosts else "")
            + ", then add the new one",
        )
    port = "" if location.port == 22 else f"-p {location.port} "
    target = credentials.known_hosts or "~/.ssh/known_hosts"
    raise HostKeyError(
        f"the host key of {name} is not known: the server offers {key_type} {shown}, "
        f"and {where} has no entry for it; it is never accepted without checking",
        f"check that fingerprint with the server's administrator (ssh-keygen -lf on the server's host key), "
        f"then add it: ssh-keyscan {port}-t {key_type} {location.host} >> {target}",
    )


def _not_the_given_host_key(name: str, key_type: str, shown: str, where: str, changed: bool) -> HostKeyError:
    """Return the error for a server whose host key is not the one given as text."""
    return HostKeyError(
        f"{'WARNING: ' if changed else ''}the host key of {name} is not {where}: the server offers "
        f"{key_type} {shown}. "
        + (
            "Someone may be intercepting the connection, or the server's key was replaced. "
            if changed
            else ""
        )
        + "Nothing was sent.",
        "check that fingerprint with the server's administrator (ssh-keygen -lf on the server's host key); "
        "only if it is right, give that key as the repository's host key",
    )


def _load_key(path: Path, explicit: bool) -> paramiko.PKey | None:
    """Return the private key in ``path``; None when it is locked by a passphrase.

    Raises:
        ConfigurationError: an explicitly given key file is missing or unreadable.
    """
    try:
        return paramiko.PKey.from_path(path)
    except (paramiko.PasswordRequiredException, TypeError):
        return None
    except (OSError, ValueError, paramiko.SSHException) as error:
        if explicit:
            detail = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            raise ConfigurationError(
                f"cannot use the SSH key {path}: {detail}",
                f"check {KEY_ENV} / --sftp-key: it must name a private key in OpenSSH format",
            ) from None
        return None


def _agent_keys() -> list[paramiko.PKey]:
    """Return the keys a running ssh-agent offers (none when SSH_AUTH_SOCK is unset or the agent fails)."""
    if not os.environ.get("SSH_AUTH_SOCK"):
        return []
    try:
        return list(paramiko.Agent().get_keys())
    except (paramiko.SSHException, OSError):
        return []


def authenticate(transport: paramiko.Transport, location: SftpLocation, credentials: Credentials) -> None:
    """Log in with the first key the server accepts.

    Raises:
        ConfigurationError: no key could be offered (none found, or every one is locked by a passphrase).
        AuthenticationFailed: the server refused every key offered.
    """
    if credentials.key_text is not None:
        _authenticate_with_given_key(transport, location, credentials)
        return
    explicit = credentials.key_file is not None
    offered: list[str] = []
    locked: list[Path] = []
    candidates: list[tuple[str, paramiko.PKey | None, Path | None]] = [
        ("a key of the ssh-agent", key, None) for key in ([] if explicit else _agent_keys())
    ]
    candidates += [(str(path), _load_key(path, explicit), path) for path in credentials.key_files()]
    for description, key, path in candidates:
        if key is None:
            if path is not None:
                locked.append(path)
            continue
        offered.append(description)
        try:
            transport.auth_publickey(location.user, key)
            return
        except paramiko.AuthenticationException:
            continue
    if not offered:
        raise _no_usable_key(locked, explicit)
    raise AuthenticationFailed(
        f"{location.user}@{location.known_hosts_name} refused every SSH key offered ({', '.join(offered)})",
        f"add the matching public key (such as {offered[-1]}.pub) to ~{location.user}/.ssh/authorized_keys "
        f"on the server, or name the right key with {KEY_ENV} / --sftp-key",
    )


def _authenticate_with_given_key(
    transport: paramiko.Transport, location: SftpLocation, credentials: Credentials
) -> None:
    """Log in with the private key given as text, the only one offered.

    Raises:
        ConfigurationError: the key cannot be read (or its passphrase is missing or wrong).
        AuthenticationFailed: the server refused it.
    """
    assert credentials.key_text is not None
    key = private_key_from_text(credentials.key_text, credentials.key_passphrase, credentials.origin)
    try:
        transport.auth_publickey(location.user, key)
    except paramiko.AuthenticationException:
        raise AuthenticationFailed(
            f"{location.user}@{location.known_hosts_name} refused the SSH key {credentials.origin} "
            f"({key.get_name()} {fingerprint(key)})",
            f"add its public key to ~{location.user}/.ssh/authorized_keys on the server, "
            "or give the key that the server accepts",
        ) from None


def _no_usable_key(locked: list[Path], explicit: bool) -> ConfigurationError:
    """Return the error for a login that had no key to offer."""
    if locked:
        shown = ", ".join(str(path) for path in locked)
        return ConfigurationError(
            f"the SSH key {shown} is protected by a passphrase, and no ssh-agent holds it unlocked",
            f"start an ssh-agent and add the key to it: eval $(ssh-agent) && ssh-add {locked[0]}",
        )
    looked = "" if explicit else " in " + ", ".join(f"~/.ssh/{name}" for name in DEFAULT_KEY_NAMES)
    return ConfigurationError(
        f"no SSH key found{looked}, and no ssh-agent is running",
        f"create a key with ssh-keygen -t ed25519, or name one with {KEY_ENV} / --sftp-key",
    )


def open_transport(location: SftpLocation, credentials: Credentials, timeout: float) -> paramiko.Transport:
    """Connect, check the host key and log in; return the authenticated SSH transport.

    Raises:
        OSError, EOFError, paramiko.SSHException: the connection failed or dropped (worth retrying).
        HostKeyError: the host key is unknown or changed.
        ConfigurationError: no key could be offered.
        AuthenticationFailed: every key was refused.
    """
    sock = socket.create_connection((location.host, location.port), timeout=timeout)
    return open_transport_on(sock, location, credentials, timeout)


def open_transport_on(
    sock: socket.socket, location: SftpLocation, credentials: Credentials, timeout: float
) -> paramiko.Transport:
    """Like :func:`open_transport`, over a connected socket (or an object that acts as one, such as a
    wrapper that counts the bytes it carries); the transport owns it from then on.

    Raises:
        OSError, EOFError, paramiko.SSHException: the connection failed or dropped.
        HostKeyError: the host key is unknown or changed.
        ConfigurationError: no key could be offered.
        AuthenticationFailed: every key was refused.
    """
    transport = paramiko.Transport(sock, default_window_size=WINDOW_BYTES)
    try:
        prefer_known_key_types(transport, location, credentials)
        transport.start_client(timeout=timeout)
        check_host_key(location, transport.get_remote_server_key(), credentials)
        authenticate(transport, location, credentials)
        transport.set_keepalive(30)
    except BaseException:
        transport.close()
        raise
    return transport
