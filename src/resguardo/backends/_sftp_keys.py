"""SSH keys given as text rather than files: a private key to log in with, the server's host keys.

These come from :class:`resguardo.backends.credentials.StorageCredentials` (the service reveals them
from its catalog). The private key is parsed in memory and never written anywhere; the errors raised
here say where the key came from and what is wrong with it, never a byte of it.
"""

from __future__ import annotations

import io

import paramiko

from resguardo.core.errors import ConfigurationError

KEY_CLASSES: tuple[type[paramiko.PKey], ...] = (
    paramiko.Ed25519Key,
    paramiko.ECDSAKey,
    paramiko.RSAKey,
)
KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-", "sk-", "rsa-")


def private_key_from_text(text: str, passphrase: str | None, origin: str) -> paramiko.PKey:
    """Return the private key written in ``text`` (OpenSSH or PEM format), opened with ``passphrase``.

    Raises:
        ConfigurationError: the text holds no private key of a supported type (Ed25519, ECDSA, RSA),
            or it is protected by a passphrase that is missing or wrong.
    """
    locked = False
    for key_class in KEY_CLASSES:
        try:
            return key_class.from_private_key(io.StringIO(text), password=passphrase or None)
        except paramiko.PasswordRequiredException:
            locked = True
        except (paramiko.SSHException, ValueError, TypeError, IndexError):
            continue
    if locked and not passphrase:
        raise ConfigurationError(
            f"the SSH private key {origin} is protected by a passphrase, and none is given",
            "give its passphrase (the repository's ssh_password secret), or give a key without one",
        )
    raise ConfigurationError(
        f"the SSH private key {origin} cannot be read: it is not an Ed25519, ECDSA or RSA private key "
        "in OpenSSH or PEM format" + (", or its passphrase is wrong" if passphrase else ""),
        "give the whole private key file (from its -----BEGIN line to its -----END line)",
    )


def host_keys_from_text(text: str, host_name: str, origin: str) -> paramiko.HostKeys:
    """Return the host keys of ``text`` as known for ``host_name`` (``host`` or ``[host]:port``).

    Each non-empty line that is not a comment is ``TYPE BASE64 [COMMENT]`` (taken as a key of
    ``host_name``) or a known_hosts line ``HOSTS TYPE BASE64`` (kept as it is, so it must name the host).

    Raises:
        ConfigurationError: a line is not a public key, or no line is given.
    """
    host_keys = paramiko.HostKeys()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(KEY_TYPE_PREFIXES):
            line = f"{host_name} {line}"
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
        except (paramiko.hostkeys.InvalidHostKey, paramiko.SSHException, ValueError, TypeError):
            entry = None
        if entry is None or entry.key is None:
            raise ConfigurationError(
                f"line {number} of the host key {origin} is not a public key",
                "give the server's public host key as 'TYPE BASE64', e.g. the output of "
                "ssh-keyscan -t ed25519 HOST without the host name, or a known_hosts line",
            )
        for name in entry.hostnames:
            host_keys.add(name, entry.key.get_name(), entry.key)
    if not len(host_keys):
        raise ConfigurationError(f"the host key {origin} is empty", "give the server's public host key")
    return host_keys
