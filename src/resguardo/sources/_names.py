"""Database names: as file names of a snapshot, and the ones a source dumps."""

from __future__ import annotations

from resguardo.core.errors import SourceError


def stream_file_name(database: str) -> str:
    """Return a database's name as a file name: ``%``, ``/`` and a leading ``.`` percent-encoded."""
    encoded = database.replace("%", "%25").replace("/", "%2F")
    return "%2E" + encoded[1:] if encoded.startswith(".") else encoded


def chosen_databases(chosen: list[str], available: list[str], where: str) -> list[str]:
    """Return the databases to dump: ``chosen`` when given (each must be ``available``), else all.

    Raises:
        SourceError: a chosen database does not exist on the server ``where`` names.
    """
    if not chosen:
        return available
    missing = [name for name in chosen if name not in available]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise SourceError(
            f"database {names} does not exist on {where}",
            f"databases there: {', '.join(available) or 'none'}",
        )
    return chosen
