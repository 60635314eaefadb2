"""Which PostgreSQL client tools to run against a server: the same major version, or the nearest newer.

``pg_dump`` refuses to dump a server newer than itself, and a dump made by an older ``pg_dump`` may miss
what a newer server has. Debian installs each major version's tools in ``/usr/lib/postgresql/<major>/bin``,
side by side; elsewhere the tools are found on ``PATH`` and asked their version.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from resguardo.core.errors import SourceError

POSTGRES_ROOT = Path("/usr/lib/postgresql")
VERSION_PATTERN = re.compile(r"\(PostgreSQL\)\s+(\d+)")


@dataclass(frozen=True, slots=True)
class PgTools:
    """One installed set of PostgreSQL client tools.

    Attributes:
        major: their major version (15 for 15.4).
        bin_dir: the folder holding pg_dump, pg_dumpall, pg_restore.
    """

    major: int
    bin_dir: Path

    def tool(self, name: str) -> str:
        """Return the path of tool ``name`` (``pg_dump``, ``pg_restore`` ...) in this set."""
        return str(self.bin_dir / name)


def major_of(server_version_num: int) -> int:
    """Return the major version of a ``server_version_num`` (150004 → 15, 90624 → 9)."""
    return server_version_num // 10000 if server_version_num >= 100000 else server_version_num // 100 // 100


def _version_on_path() -> PgTools | None:
    found = shutil.which("pg_dump")
    if found is None:
        return None
    try:
        output = subprocess.run(  # noqa: S603 - the pg_dump found on PATH, asked its version
            [found, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = VERSION_PATTERN.search(output)
    return PgTools(int(match.group(1)), Path(found).parent) if match else None


def installed_tools(root: Path = POSTGRES_ROOT, *, search_path: bool = True) -> list[PgTools]:
    """Return the client tool sets installed, oldest first.

    Args:
        root: the folder of per-version folders (``<root>/<major>/bin/pg_dump``).
        search_path: also ask the ``pg_dump`` on ``PATH`` when ``root`` holds none.
    """
    found = [
        PgTools(int(dump.parent.parent.name), dump.parent)
        for dump in root.glob("*/bin/pg_dump")
        if dump.parent.parent.name.isdigit()
    ]
    if not found and search_path:
        on_path = _version_on_path()
        if on_path is not None:
            found.append(on_path)
    return sorted(found, key=lambda tools: tools.major)


def pick_tools(server_major: int, installed: list[PgTools], server: str = "the server") -> PgTools:
    """Return the tools of ``server_major``, or else the oldest set newer than it.

    Args:
        server_major: the server's major version.
        installed: the tool sets there are (see :func:`installed_tools`).
        server: how to name the server in messages.

    Raises:
        SourceError: no set is installed, or every one is older than the server (the message names
            both versions and what to install).
    """
    install_hint = (
        f"install PostgreSQL {server_major}'s client tools "
        f"(on Debian or Ubuntu: apt-get install postgresql-client-{server_major})"
    )
    if not installed:
        raise SourceError(
            f"no pg_dump found (looked in {POSTGRES_ROOT}/*/bin and on PATH); "
            f"{server} runs PostgreSQL {server_major}",
            install_hint,
        )
    suitable = [tools for tools in installed if tools.major >= server_major]
    if not suitable:
        newest = installed[-1]
        raise SourceError(
            f"{server} runs PostgreSQL {server_major}, but the newest pg_dump here is version "
            f"{newest.major} ({newest.bin_dir}), which cannot dump a newer server",
            install_hint,
        )
    return suitable[0]
