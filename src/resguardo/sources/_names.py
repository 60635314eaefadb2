"""Database names as file names of a snapshot."""

from __future__ import annotations


def stream_file_name(database: str) -> str:
    """Return a database's name as a file name: ``%``, ``/`` and a leading ``.`` percent-encoded."""
    encoded = database.replace("%", "%25").replace("/", "%2F")
    return "%2E" + encoded[1:] if encoded.startswith(".") else encoded
