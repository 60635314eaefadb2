"""The two modes of the catalog commands for the tests: ``local`` (on a catalog's database) and ``remote``
(on a real server, by URL with an API token). Both catalogs start alike (migrated, with an administrator),
so that the same commands give the same IDs and the same output in both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from resguardo.catalog import load_secret_key
from resguardo.catalog.enums import Role
from tests.cli.conftest import Outcome, invoke
from tests.fixtures.api_server import add_user_with_token, migrated_catalog, running_server

ENVIRONMENT = (
    "RESGUARDO_SECRET_KEY",
    "RESGUARDO_DATABASE_URL",
    "RESGUARDO_DATA_DIR",
    "RESGUARDO_SERVER",
    "RESGUARDO_TOKEN",
    "RESGUARDO_TOKEN_FILE",
)
ADMIN_PASSWORD = "the administrator's long password"


@dataclass
class Mode:
    """One mode under test: its name, the catalog it ends up changing, and how to run the command."""

    name: str
    sessions: sessionmaker[Session]
    data_dir: Path
    database_url: str
    server: str | None = None
    token: str | None = None

    def cli(self, *argv: str, json: bool = True) -> Outcome:
        """Run ``resguardo [--json] ARGV`` in this mode (the catalog or server named by the environment)."""
        return invoke(["--json", *argv] if json else list(argv))


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Forget the catalog, server and login of the environment; keep logins under ``tmp_path``."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("RESGUARDO_TEST_KDF", "fast")
    monkeypatch.setenv("RESGUARDO_CACHE_DIR", str(tmp_path / "cache"))


def write_token_file(path: Path, token: str) -> Path:
    """Write ``token`` to ``path``, readable by its owner only; return the path."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(token + "\n")
    return path


@contextmanager
def opened_mode(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mode]:
    """Yield the mode ``name`` over a new catalog under ``tmp_path``, named by the environment.

    ``local``: RESGUARDO_DATABASE_URL and RESGUARDO_DATA_DIR. ``remote``: a real server, named by
    RESGUARDO_SERVER, with an administrator's token in the file RESGUARDO_TOKEN_FILE names.
    """
    isolate(monkeypatch, tmp_path)
    data_dir = tmp_path / name
    if name == "local":
        url, sessions = migrated_catalog(data_dir)
        load_secret_key(data_dir, create=True)
        add_user_with_token(sessions, "admin", [Role.ADMINISTRATOR], ADMIN_PASSWORD)
        monkeypatch.setenv("RESGUARDO_DATABASE_URL", url)
        monkeypatch.setenv("RESGUARDO_DATA_DIR", str(data_dir))
        yield Mode(name, sessions, data_dir, url)
        return
    with running_server(data_dir) as server:
        token = server.user("admin", [Role.ADMINISTRATOR], ADMIN_PASSWORD)
        monkeypatch.setenv("RESGUARDO_SERVER", server.url)
        monkeypatch.setenv("RESGUARDO_TOKEN_FILE", str(write_token_file(tmp_path / "token", token)))
        yield Mode(name, server.sessions, data_dir, server.database_url, server.url, token)
