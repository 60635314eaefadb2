"""Comparing a restored file with what its snapshot recorded: the same chunks, hashing to the same IDs.

A snapshot records a file's content as the IDs (keyed hashes) of its content-defined chunks. Cutting a
restored file with the repository's chunker and hashing each piece must give exactly those IDs: any
changed, missing or extra byte changes at least one of them. This reads only the restored file, never
the repository.
"""

from __future__ import annotations

from resguardo.engine.chunker import Chunker
from resguardo.engine.repository import Repository
from resguardo.engine.tree import Node

READ_SIZE = 8 * 1024 * 1024


def content_mismatch(repository: Repository, path: str, node: Node) -> str | None:
    """Return why the file at ``path`` does not hold ``node``'s recorded content, or None when it does.

    Args:
        repository: the open repository the snapshot belongs to (its chunker key and sizes, its hash key).
        path: the restored file.
        node: the file's node in the snapshot.

    Raises:
        OSError: the restored file cannot be read.
    """
    chunker = Chunker(repository.keys.chunker_key, repository.config.chunker)
    blob_id = repository.keys.blob_id
    recorded = node.content
    found = 0
    size = 0
    pending = b""
    with open(path, "rb") as handle:
        while True:
            block = handle.read(READ_SIZE)
            at_end = not block
            data = pending + block
            size += len(block)
            start = 0
            for end in chunker.cut_points(data, at_end):
                if found >= len(recorded) or blob_id(data[start:end]) != recorded[found]:
                    offset = size - len(data) + start
                    return f"content differs from the snapshot at chunk {found + 1} (from byte {offset})"
                found += 1
                start = end
            pending = data[start:]
            if at_end:
                break
    if found != len(recorded):
        return f"the restored file has {found} chunks, the snapshot recorded {len(recorded)}"
    if size != node.size:
        return f"the restored file has {size} bytes, the snapshot recorded {node.size}"
    return None


__all__ = ["content_mismatch"]
