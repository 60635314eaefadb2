"""What the credential tests check after a run: no secret in the run's row, the logs, or any table."""

from __future__ import annotations

from sqlalchemy import MetaData, text

from tests.fixtures.service import Service


def catalog_dump(service: Service) -> str:
    """Return every row of every table of the service's catalog, as text."""
    dumped = []
    with service.sessions() as session:
        metadata = MetaData()
        metadata.reflect(bind=session.get_bind())
        for table in metadata.sorted_tables:
            dumped.extend(repr(tuple(row)) for row in session.execute(text(f"SELECT * FROM {table.name}")))
    return "\n".join(dumped)


def assert_nowhere(secrets: list[str], *texts: str) -> None:
    """Fail if any secret (or a line of a multi-line one, or its hex) appears in any of ``texts``."""
    everything = "\n".join(texts)
    for secret in secrets:
        pieces = [line for line in secret.splitlines() if len(line) > 16 and "-----" not in line] or [secret]
        for piece in pieces:
            assert piece not in everything
        assert secret.encode().hex() not in everything
