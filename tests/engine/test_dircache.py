"""The local metadata cache: fingerprints, saving and loading, and damage tolerance."""

from __future__ import annotations

import os
from pathlib import Path

from resguardo.engine.dircache import (
    CachedDirectory,
    DirectoryCache,
    cache_file_path,
    combine,
    fingerprint_entries,
)


def listing(directory: Path) -> list[tuple[bytes, os.stat_result]]:
    entries = sorted(directory.iterdir())
    return [(os.fsencode(entry.name), entry.stat(follow_symlinks=False)) for entry in entries]


def test_a_fingerprint_changes_when_a_file_changes_and_not_otherwise(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"one")
    (tmp_path / "b").write_bytes(b"two")
    first = fingerprint_entries(listing(tmp_path))
    assert fingerprint_entries(listing(tmp_path)) == first
    os.utime(tmp_path / "b", ns=(1, 2))
    assert fingerprint_entries(listing(tmp_path)) != first


def test_a_fingerprint_changes_when_an_entry_is_renamed(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"one")
    first = fingerprint_entries(listing(tmp_path))
    (tmp_path / "a").rename(tmp_path / "c")
    assert fingerprint_entries(listing(tmp_path)) != first


def test_the_combined_key_depends_on_the_subtrees() -> None:
    fingerprint = b"f" * 16
    assert combine(fingerprint, [b"1" * 32]) != combine(fingerprint, [b"2" * 32])
    assert combine(fingerprint, [b"1" * 32]) == combine(fingerprint, [b"1" * 32])


def test_what_one_backup_saves_the_next_one_loads(tmp_path: Path) -> None:
    path = cache_file_path(str(tmp_path), "repository-id", "host\0/srv")
    cache = DirectoryCache(path)
    entry = CachedDirectory(b"f" * 16, b"c" * 16, b"t" * 32)
    cache.put(b"/srv", entry)
    cache.save()
    assert DirectoryCache(path).get(b"/srv") == entry
    assert DirectoryCache(path).get(b"/other") is None


def test_only_the_directories_seen_by_the_last_backup_are_kept(tmp_path: Path) -> None:
    path = cache_file_path(str(tmp_path), "repository-id", "source")
    first = DirectoryCache(path)
    first.put(b"/gone", CachedDirectory(b"f" * 16, b"c" * 16, b"t" * 32))
    first.save()
    second = DirectoryCache(path)
    second.put(b"/kept", CachedDirectory(b"g" * 16, b"d" * 16, b"u" * 32))
    second.save()
    third = DirectoryCache(path)
    assert third.get(b"/gone") is None
    assert third.get(b"/kept") is not None


def test_an_unchanged_cache_is_not_written_again(tmp_path: Path) -> None:
    path = cache_file_path(str(tmp_path), "repository-id", "source")
    first = DirectoryCache(path)
    entry = CachedDirectory(b"f" * 16, b"c" * 16, b"t" * 32)
    first.put(b"/srv", entry)
    first.save()
    os.utime(path, ns=(0, 0))
    second = DirectoryCache(path)
    second.put(b"/srv", entry)
    second.save()
    assert os.stat(path).st_mtime_ns == 0


def test_a_damaged_cache_file_is_treated_as_empty(tmp_path: Path) -> None:
    path = cache_file_path(str(tmp_path), "repository-id", "source")
    Path(path).parent.mkdir(parents=True)
    Path(path).write_bytes(b"\xc1 not msgpack")
    assert DirectoryCache(path).get(b"/srv") is None


def test_different_sources_use_different_cache_files(tmp_path: Path) -> None:
    assert cache_file_path(str(tmp_path), "r", "host\0/a") != cache_file_path(str(tmp_path), "r", "host\0/b")


def test_without_a_path_nothing_is_written(tmp_path: Path) -> None:
    cache = DirectoryCache(None)
    cache.put(b"/srv", CachedDirectory(b"f" * 16, b"c" * 16, b"t" * 32))
    cache.save()
    assert cache.get(b"/srv") is None
    assert list(tmp_path.iterdir()) == []
