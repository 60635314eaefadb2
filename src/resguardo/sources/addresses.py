"""Where a database server is: parsed from a URL such as ``postgresql://backup@db1:5432/`` or
``mysql://backup@127.0.0.1:3306/``, shown back without its password.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, unquote, urlsplit

from resguardo.core.errors import ConfigurationError

SCHEMES = {"postgresql": "postgresql", "postgres": "postgresql", "mysql": "mysql", "mariadb": "mysql"}
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


@dataclass(frozen=True, slots=True)
class DatabaseAddress:
    """A database server and the account to use.

    Attributes:
        kind: ``postgresql`` or ``mysql`` (MySQL and MariaDB).
        host: name or address; None for the local socket.
        port: TCP port; None for the default.
        user: the account; None for the tool's default.
        password: the password; None when the tool finds its own (``~/.pgpass``, a socket's peer
            authentication, ``~/.my.cnf``). Never shown.
        database: the database the URL names (a maintenance database for listing, or a restore target).
        socket: the local socket (``?host=/run/postgresql`` or ``?socket=/run/mysqld/mysqld.sock``).
    """

    kind: str
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    socket: str | None = None

    def with_password(self, password: str | None) -> DatabaseAddress:
        """Return this address with ``password`` (when not None) in place of the URL's."""
        return self if password is None else replace(self, password=password)

    def with_database(self, database: str | None) -> DatabaseAddress:
        """Return this address naming ``database`` instead."""
        return replace(self, database=database)

    def display(self) -> str:
        """Return the address as a URL without the password, for messages."""
        user = f"{self.user}@" if self.user else ""
        where = self.host or (f"[{self.socket}]" if self.socket else "local socket")
        port = f":{self.port}" if self.port else ""
        return f"{self.kind}://{user}{where}{port}"


def parse_address(url: str, expected_kind: str | None = None) -> DatabaseAddress:
    """Parse a database server URL.

    Args:
        url: ``postgresql://[user[:password]@][host][:port][/database][?host=/socket/dir]`` or
            ``mysql://[user[:password]@][host][:port][/database][?socket=/path/mysqld.sock]``
            (``postgres://`` and ``mariadb://`` are accepted too).
        expected_kind: ``postgresql`` or ``mysql`` to refuse any other.

    Returns:
        the address.

    Raises:
        ConfigurationError: the URL is malformed or of the wrong kind (the message never shows a password).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
        scheme = parts.scheme.lower()
    except ValueError:
        raise ConfigurationError(
            "the database URL is malformed",
            "write it like postgresql://user@host:5432/ or mysql://user@host/",
        ) from None
    kind = SCHEMES.get(scheme)
    if kind is None or (expected_kind is not None and kind != expected_kind):
        wanted = f"{expected_kind}://" if expected_kind else "postgresql:// or mysql://"
        raise ConfigurationError(f"the database URL must start with {wanted}, not {scheme or 'nothing'}://")
    query = parse_qs(parts.query)
    unknown = set(query) - {"host", "socket"}
    if unknown:
        raise ConfigurationError(f"unknown parameter in the database URL: {', '.join(sorted(unknown))}")
    sockets = query.get("host") or query.get("socket") or []
    socket = sockets[0] if sockets else None
    database = unquote(parts.path.lstrip("/")) or None
    return DatabaseAddress(
        kind=kind,
        host=unquote(parts.hostname) if parts.hostname else None,
        port=port,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        database=database,
        socket=socket,
    )
