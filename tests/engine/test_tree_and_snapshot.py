"""Tests of tree objects (directory listings) and snapshot documents, and of finding a snapshot."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import msgpack
import pytest

from resguardo.backends import MemoryStorage
from resguardo.core.errors import IntegrityError, SnapshotNotFound
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.repository import SNAPSHOTS_PREFIX, Repository
from resguardo.engine.snapshot import (
    LostPath,
    RepairRecord,
    Snapshot,
    find_snapshot,
    list_snapshots,
    load_snapshot,
)
from resguardo.engine.tree import (
    DIRECTORY,
    FILE,
    SYMLINK,
    Node,
    decode_tree,
    encode_tree,
    is_safe_name,
)

FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
TREE_ID = bytes(range(32))
BLOB_A = b"\xaa" * 32
BLOB_B = b"\xbb" * 32
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def full_node() -> Node:
    return Node(
        name=b"report \xff.txt",
        type=FILE,
        mode=0o640,
        uid=1000,
        gid=100,
        user="ana",
        group="users",
        mtime_ns=1_700_000_000_123_456_789,
        ctime_ns=1_700_000_001_000_000_000,
        size=12345,
        inode=99,
        device=2049,
        links=2,
        content=[BLOB_A, BLOB_B],
        xattrs=[(b"user.note", b"\x00binary")],
        sparse=True,
    )


# -- trees -------------------------------------------------------------------------------------


def test_a_tree_round_trips_every_field() -> None:
    nodes = [
        Node(name=b"a-dir", type=DIRECTORY, mode=0o755, subtree=TREE_ID),
        Node(name=b"link", type=SYMLINK, mode=0o777, target=b"../elsewhere \xfe"),
        full_node(),
    ]
    assert decode_tree(encode_tree(nodes)) == nodes


def test_a_tree_is_the_same_bytes_for_the_same_nodes() -> None:
    assert encode_tree([full_node()]) == encode_tree([full_node()])
    changed = full_node()
    changed.mtime_ns += 1
    assert encode_tree([changed]) != encode_tree([full_node()])


def test_default_fields_are_not_stored() -> None:
    stored = Node(name=b"plain", type=FILE, mode=0o600).to_map()
    assert stored == {"name": b"plain", "type": FILE, "mode": 0o600}


@pytest.mark.parametrize("name", [b"", b".", b"..", b"a/b", b"/", b"nul\x00byte"])
def test_unsafe_names_are_rejected(name: bytes) -> None:
    assert not is_safe_name(name)
    data = msgpack.packb({"version": 1, "nodes": [{"name": name, "type": FILE, "mode": 0o644}]})
    with pytest.raises(IntegrityError, match="unsafe"):
        decode_tree(data)


@pytest.mark.parametrize("name", [b"a", b"...", b"name with spaces", b"\xff\xfe", b"-rf"])
def test_unusual_but_safe_names_are_accepted(name: bytes) -> None:
    assert is_safe_name(name)
    assert decode_tree(encode_tree([Node(name=name, type=FILE)]))[0].name == name


def test_a_name_that_is_not_bytes_is_rejected() -> None:
    data = msgpack.packb({"version": 1, "nodes": [{"name": "text", "type": FILE, "mode": 0}]})
    with pytest.raises(IntegrityError, match="unsafe"):
        decode_tree(data)


def test_duplicate_names_are_rejected() -> None:
    data = encode_tree([Node(name=b"same", type=FILE), Node(name=b"same", type=FILE)])
    with pytest.raises(IntegrityError, match="duplicated or out of order"):
        decode_tree(data)


def test_unsorted_names_are_rejected() -> None:
    data = encode_tree([Node(name=b"b", type=FILE), Node(name=b"a", type=FILE)])
    with pytest.raises(IntegrityError, match="duplicated or out of order"):
        decode_tree(data)


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ({"name": b"x", "type": "door", "mode": 0}, "unknown type"),
        ({"name": b"x", "type": DIRECTORY, "mode": 0}, "no valid subtree"),
        ({"name": b"x", "type": DIRECTORY, "mode": 0, "subtree": b"short"}, "no valid subtree"),
        ({"name": b"x", "type": FILE, "mode": 0, "content": [b"short"]}, "malformed content"),
        ({"name": b"x", "type": SYMLINK, "mode": 0, "target": "text"}, "malformed content"),
        ({"name": b"x", "type": FILE}, "malformed"),
        ({"name": b"x", "type": FILE, "mode": "rwx"}, "malformed"),
    ],
    ids=["type", "no-subtree", "short-subtree", "short-blob", "text-target", "no-mode", "mode-text"],
)
def test_malformed_nodes_are_rejected(stored: dict[str, object], message: str) -> None:
    with pytest.raises(IntegrityError, match=message):
        decode_tree(msgpack.packb({"version": 1, "nodes": [stored]}))


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1 not msgpack",
        msgpack.packb([1, 2]),
        msgpack.packb({"version": 2, "nodes": []}),
        msgpack.packb({"version": 1, "nodes": "many"}),
        msgpack.packb({"version": 1}),
        msgpack.packb({"version": 1, "nodes": []}) + b"extra",
    ],
    ids=["garbage", "list", "version", "nodes-not-list", "no-nodes", "trailing-bytes"],
)
def test_malformed_trees_are_rejected(data: bytes) -> None:
    with pytest.raises(IntegrityError):
        decode_tree(data)


# -- snapshot documents ------------------------------------------------------------------------


def sample_snapshot(**changes: object) -> Snapshot:
    snapshot = Snapshot(
        time=START,
        tree=TREE_ID,
        paths=["/srv/data", os.fsdecode(b"/srv/caf\xe9")],
        hostname="fileserver",
        username="backup",
        tags=["daily", "finance"],
        parent="ab" * 32,
        excludes=["*.tmp"],
        program_version="resguardo 0.1.0",
        summary={"files_new": 3, "data_added": 1024, "duration_seconds": 1.5},
        unreadable=[os.fsdecode(b"/srv/data/locked \xff")],
    )
    for key, value in changes.items():
        setattr(snapshot, key, value)
    return snapshot


def test_a_snapshot_document_round_trips_with_non_utf8_paths() -> None:
    snapshot = sample_snapshot()
    parsed = Snapshot.from_document("cd" * 32, snapshot.to_document())
    snapshot.id = "cd" * 32
    assert parsed == snapshot
    assert os.fsencode(parsed.paths[1]) == b"/srv/caf\xe9"
    assert os.fsencode(parsed.unreadable[0]) == b"/srv/data/locked \xff"
    assert parsed.partial
    assert parsed.short_id == "cdcdcdcd"
    stored_paths = msgpack.unpackb(snapshot.to_document())["paths"]
    assert stored_paths == [b"/srv/data", b"/srv/caf\xe9"]


def test_a_repair_record_round_trips_and_an_ordinary_snapshot_stores_none() -> None:
    lost = LostPath(
        os.fsdecode(b"/srv/caf\xe9/a"), os.fsdecode(b"/srv/caf\xe9/a.damaged"), "file", 2, 4096, "gone"
    )
    snapshot = sample_snapshot(repair=RepairRecord(original="ab" * 32, time=START, lost=[lost]))
    parsed = Snapshot.from_document("cd" * 32, snapshot.to_document())
    assert parsed.repair == snapshot.repair
    stored = msgpack.unpackb(snapshot.to_document())["repair"]
    assert stored["lost"][0]["marked_as"] == b"/srv/caf\xe9/a.damaged"
    assert parsed.to_json()["repair"]["lost"][0]["bytes_lost"] == 4096
    assert "repair" not in msgpack.unpackb(sample_snapshot().to_document())


def test_a_snapshot_as_json_is_complete() -> None:
    snapshot = sample_snapshot(id="ef" * 32)
    document = snapshot.to_json()
    assert document["tree"] == TREE_ID.hex()
    assert document["partial"] is True
    assert document["time"] == START.isoformat()
    assert document["short_id"] == "efefefef"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "unsupported version"),
        ({"tree": b"short"}, "malformed tree"),
        ({"tree": "text" * 8}, "malformed tree"),
        ({"time": "yesterday"}, "malformed"),
        ({"repair": "text"}, "malformed"),
        ({"repair": {"original": "ab" * 32}}, "malformed"),
        (
            {"repair": {"original": "ab" * 32, "time": START.isoformat(), "lost": [{"path": b"/x"}]}},
            "malformed",
        ),
    ],
)
def test_a_malformed_snapshot_document_is_rejected(change: dict[str, object], message: str) -> None:
    document = msgpack.unpackb(sample_snapshot().to_document())
    document.update(change)
    with pytest.raises(IntegrityError, match=message):
        Snapshot.from_document("00" * 32, msgpack.packb(document))


def test_a_snapshot_document_missing_a_field_is_rejected() -> None:
    document = msgpack.unpackb(sample_snapshot().to_document())
    del document["hostname"]
    with pytest.raises(IntegrityError, match="malformed"):
        Snapshot.from_document("00" * 32, msgpack.packb(document))
    with pytest.raises(IntegrityError):
        Snapshot.from_document("00" * 32, b"\xc1")


# -- finding snapshots -------------------------------------------------------------------------


@pytest.fixture
def repository(memory_storage: MemoryStorage) -> Repository:
    return Repository.create(memory_storage, b"pass", kdf=FAST_KDF)


def save(repository: Repository, snapshot: Snapshot) -> Snapshot:
    snapshot.id = repository.save_snapshot_document(snapshot.to_document())
    return snapshot


def test_latest_is_the_newest_snapshot(repository: Repository) -> None:
    newest = save(repository, sample_snapshot(time=START + timedelta(hours=2)))
    save(repository, sample_snapshot(time=START))
    save(repository, sample_snapshot(time=START + timedelta(hours=1)))
    assert find_snapshot(repository, "latest").id == newest.id
    assert [snapshot.time for snapshot in list_snapshots(repository)] == [
        START,
        START + timedelta(hours=1),
        START + timedelta(hours=2),
    ]


def test_latest_is_narrowed_by_host_paths_and_tags(repository: Repository) -> None:
    other_host = save(repository, sample_snapshot(time=START + timedelta(hours=3), hostname="other"))
    other_paths = save(repository, sample_snapshot(time=START + timedelta(hours=2), paths=["/home"]))
    untagged = save(repository, sample_snapshot(time=START + timedelta(hours=1), tags=[]))
    wanted = save(repository, sample_snapshot(time=START))
    paths = list(reversed(wanted.paths))  # the order paths were given in does not matter
    assert find_snapshot(repository, "latest").id == other_host.id
    assert find_snapshot(repository, "latest", hostname="fileserver").id == other_paths.id
    assert find_snapshot(repository, "latest", hostname="fileserver", paths=paths).id == untagged.id
    found = find_snapshot(repository, "latest", hostname="fileserver", paths=paths, tags=["daily"])
    assert found.id == wanted.id
    with pytest.raises(SnapshotNotFound):
        find_snapshot(repository, "latest", hostname="nobody")


def test_an_empty_repository_has_no_latest(repository: Repository) -> None:
    with pytest.raises(SnapshotNotFound, match="no matching snapshot"):
        find_snapshot(repository, "latest")


def test_a_unique_prefix_finds_its_snapshot(repository: Repository) -> None:
    first = save(repository, sample_snapshot(time=START))
    second = save(repository, sample_snapshot(time=START + timedelta(hours=1)))
    for snapshot in (first, second):
        other = second if snapshot is first else first
        length = next(n for n in range(1, 65) if not other.id.startswith(snapshot.id[:n]))
        assert find_snapshot(repository, snapshot.id[:length]).id == snapshot.id
        assert find_snapshot(repository, snapshot.id.upper()).id == snapshot.id
        assert find_snapshot(repository, snapshot.id).tree == TREE_ID


def test_an_ambiguous_prefix_is_refused(repository: Repository) -> None:
    by_digit: dict[str, Snapshot] = {}
    for hours in range(17):  # 17 snapshots over 16 hex digits: two share their first digit
        snapshot = save(repository, sample_snapshot(time=START + timedelta(hours=hours)))
        if snapshot.id[0] in by_digit:
            break
        by_digit[snapshot.id[0]] = snapshot
    with pytest.raises(SnapshotNotFound, match="matches 2 snapshots") as raised:
        find_snapshot(repository, snapshot.id[0])
    assert "more digits" in raised.value.hint


@pytest.mark.parametrize("reference", ["", "xyz", "12-34", "latest!", "g1"])
def test_a_reference_that_is_not_hex_is_refused(repository: Repository, reference: str) -> None:
    save(repository, sample_snapshot())
    with pytest.raises(SnapshotNotFound, match="not a snapshot ID"):
        find_snapshot(repository, reference)


def test_a_prefix_matching_nothing_is_refused(repository: Repository) -> None:
    snapshot = save(repository, sample_snapshot())
    unused = next(digit for digit in "0123456789abcdef" if not snapshot.id.startswith(digit))
    with pytest.raises(SnapshotNotFound, match="no snapshot matches"):
        find_snapshot(repository, unused)


def test_load_snapshot_of_an_unknown_id_raises_snapshot_not_found(repository: Repository) -> None:
    with pytest.raises(SnapshotNotFound):
        load_snapshot(repository, "00" * 32)


def test_damaged_snapshots_are_skipped_in_listings_unless_asked(
    repository: Repository, memory_storage: MemoryStorage
) -> None:
    kept = save(repository, sample_snapshot(time=START))
    damaged = save(repository, sample_snapshot(time=START + timedelta(hours=1)))
    memory_storage.corrupt(SNAPSHOTS_PREFIX + damaged.id, 40)
    assert [snapshot.id for snapshot in list_snapshots(repository)] == [kept.id]
    assert find_snapshot(repository, "latest").id == kept.id
    with pytest.raises(IntegrityError):
        list_snapshots(repository, skip_damaged=False)
