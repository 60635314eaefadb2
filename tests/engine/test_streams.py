"""Backup of several named streams into one snapshot: folders in names, all-or-nothing on failure."""

from __future__ import annotations

import io
import os
import random
import threading
from typing import BinaryIO

import pytest

from resguardo.backends import MemoryStorage
from resguardo.core.errors import ConfigurationError, SourceError
from resguardo.engine.browse import open_file
from resguardo.engine.chunker import ChunkerParameters
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.repository import Repository
from resguardo.engine.snapshot import Snapshot, list_snapshots
from resguardo.engine.streams import StreamsOptions, StreamSource, backup_streams, check_stream_names
from resguardo.engine.tree import DIRECTORY, decode_tree

FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
SMALL_CHUNKS = ChunkerParameters(min_size=1024, average_size=4096, max_size=16384)


@pytest.fixture
def repository(memory_storage: MemoryStorage) -> Repository:
    return Repository.create(
        memory_storage, b"pass", chunker=SMALL_CHUNKS, kdf=FAST_KDF, pack_size=1024 * 1024
    )


class BytesStream:
    """A stream of fixed bytes whose producer ends with ``failure`` (None: success)."""

    def __init__(self, data: bytes, failure: str | None = None) -> None:
        self._reader = io.BytesIO(data)
        self.failure = failure
        self.aborted = False

    @property
    def reader(self) -> BinaryIO:
        return self._reader

    def finish(self) -> None:
        if self.failure:
            raise SourceError(self.failure)

    def abort(self) -> None:
        self.aborted = True


class EndlessPipe:
    """A producer that never ends on its own: its pipe reaches its end only when aborted."""

    def __init__(self) -> None:
        read_end, self.write_end = os.pipe()
        self._reader = os.fdopen(read_end, "rb")
        os.write(self.write_end, b"x" * 1000)
        self.aborted = threading.Event()

    @property
    def reader(self) -> BinaryIO:
        return self._reader

    def finish(self) -> None:
        raise AssertionError("an endless stream cannot finish")

    def abort(self) -> None:
        if not self.aborted.is_set():
            self.aborted.set()
            os.close(self.write_end)


def data(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def test_streams_land_in_one_snapshot_under_their_folders(repository: Repository) -> None:
    contents = {
        "postgresql/sales.pgdump": data(300_000, 1),
        "postgresql/globals.sql": b"CREATE ROLE x;\n",
        "top.txt": b"",
    }
    sources = [
        StreamSource(name, (lambda content=content: BytesStream(content)), {"kind": "test", "database": name})
        for name, content in contents.items()
    ]
    snapshot = backup_streams(repository, sources, StreamsOptions(parallel=2, tags=["db"])).snapshot
    for name, content in contents.items():
        assert b"".join(open_file(repository, snapshot, "/" + name)) == content
    root = {node.name: node for node in decode_tree(repository.load_blob(snapshot.tree))}
    assert root[b"postgresql"].type == DIRECTORY
    assert {str(item["name"]): item["size"] for item in snapshot.streams} == {
        name: len(content) for name, content in contents.items()
    }
    assert snapshot.streams[0]["kind"] == "test"
    assert snapshot.tags == ["db"]
    assert snapshot.summary["total_bytes_processed"] == sum(len(content) for content in contents.values())


def test_stream_descriptions_survive_the_snapshot_document(repository: Repository) -> None:
    source = StreamSource("a/b.dump", lambda: BytesStream(b"abc"), {"kind": "k", "tool_version": 15})
    saved = backup_streams(repository, [source]).snapshot
    loaded = list_snapshots(repository)[0]
    described = [{key: value for key, value in item.items() if key != "content_id"} for item in saved.streams]
    assert loaded.streams == saved.streams
    assert described == [{"kind": "k", "tool_version": 15, "name": "a/b.dump", "size": 3}]
    assert Snapshot.from_document(loaded.id, loaded.to_document()).streams == loaded.streams


def test_a_stream_content_id_is_equal_exactly_when_its_bytes_are(repository: Repository) -> None:
    def content_ids(payload: bytes, other: bytes) -> list[str | int]:
        sources = [
            StreamSource("same.dump", lambda: BytesStream(payload)),
            StreamSource("other.dump", lambda: BytesStream(other)),
        ]
        return [item["content_id"] for item in backup_streams(repository, sources).snapshot.streams]

    first = content_ids(data(200_000, 4), data(200_000, 5))
    second = content_ids(data(200_000, 4), data(200_000, 6))

    assert first[0] == second[0]
    assert first[1] != second[1]


def test_a_failed_stream_saves_no_snapshot_and_is_named(repository: Repository) -> None:
    sources = [
        StreamSource("db/good.dump", lambda: BytesStream(data(100_000, 2))),
        StreamSource("db/bad.dump", lambda: BytesStream(data(50_000, 3), "pg_dump exited with code 1: boom")),
    ]
    with pytest.raises(SourceError, match=r"stream db/bad\.dump: pg_dump exited with code 1: boom"):
        backup_streams(repository, sources)
    assert list_snapshots(repository) == []


def test_a_failure_stops_the_streams_still_running(repository: Repository) -> None:
    endless = EndlessPipe()
    sources = [
        StreamSource("endless.dump", lambda: endless),
        StreamSource("failing.dump", lambda: BytesStream(b"partial", "killed")),
    ]
    with pytest.raises(SourceError, match=r"stream failing\.dump: killed"):
        backup_streams(repository, sources, StreamsOptions(parallel=2))
    assert endless.aborted.is_set()
    endless.reader.close()
    assert list_snapshots(repository) == []


@pytest.mark.parametrize(
    "names",
    [["a/../b"], ["/abs"], ["a//b"], [""], ["same", "same"], ["a", "a/b"], ["a/b", "a"]],
)
def test_names_that_do_not_make_a_tree_are_refused(names: list[str]) -> None:
    with pytest.raises(ConfigurationError):
        check_stream_names(names)


def test_nothing_to_back_up_is_refused(repository: Repository) -> None:
    with pytest.raises(ConfigurationError, match="nothing to back up"):
        backup_streams(repository, [])
