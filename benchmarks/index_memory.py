"""Index memory at many blobs: peak RSS of a backup into a repository whose index lists N blobs.

Builds a local repository whose index files (encrypted, written by the engine's own
``encode_index_file``, 256 packs of 1,000 blobs each per file, like a backup writes them) list N
synthetic blobs in packs that do not exist; a backup only asks the index whether a chunk is stored,
so the packs are never read. Then, each in a child process under ``/usr/bin/time``:

1. a backup of a small tree into an empty repository (the reference),
2. a backup of the same tree into the large repository with an empty cache folder (cold: every index
   file is decoded, the index is sorted and written to the index cache),
3. another backup into it (warm: the index is mapped from the cache; the index file the first backup
   wrote is decoded),
4. ``Repository.open`` alone, cold and warm, for the load time, and without a cache folder (the
   index is then built in the system's temporary folder, mapped and unlinked).

Bytes per blob = (peak RSS of the backup into the large repository - that of the reference) / N.

Usage: ``python benchmarks/index_memory.py [--blobs 10000000] [--work /tmp/index-memory]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from resguardo.backends.local import LocalStorage
from resguardo.engine.crypto import KdfParameters, plain_id
from resguardo.engine.index import PackRecord, encode_index_file
from resguardo.engine.pack import BlobEntry
from resguardo.engine.repository import INDEX_PACKS_PER_FILE, INDEX_PREFIX, Repository

PASSPHRASE = b"index memory benchmark"
BLOBS_PER_PACK = 1000
OPEN_SCRIPT = """
import sys, time
from resguardo.backends.local import LocalStorage
from resguardo.engine.repository import Repository
started = time.perf_counter()
cache = None if sys.argv[3] == "-" else sys.argv[3]
repository = Repository.open(LocalStorage(sys.argv[1]), sys.argv[2].encode(), cache_directory=cache)
print(f"{time.perf_counter() - started:.2f} {len(repository.index)}")
"""


def make_repository(path: Path, blobs: int) -> None:
    """Create a repository at ``path`` whose index lists ``blobs`` synthetic blobs."""
    storage = LocalStorage(str(path))
    repository = Repository.create(
        storage, PASSPHRASE, kdf=KdfParameters(memory_kib=1024, iterations=1, lanes=1)
    )
    written = 0
    while written < blobs:
        records = []
        for _ in range(INDEX_PACKS_PER_FILE):
            count = min(BLOBS_PER_PACK, blobs - written)
            if count <= 0:
                break
            ids = os.urandom(32 * count)
            entries = [
                BlobEntry(0, ids[32 * number : 32 * number + 32], 16_384 * number, 16_000, 20_000, 1)
                for number in range(count)
            ]
            records.append(PackRecord(os.urandom(32), 16_384 * count, entries))
            written += count
        data = encode_index_file(repository.keys, records)
        storage.save(INDEX_PREFIX + plain_id(data).hex(), data)


def make_tree(path: Path) -> None:
    """A small source tree: 200 files of 8 KiB in 10 folders."""
    for folder in range(10):
        (path / f"folder{folder}").mkdir(parents=True)
        for number in range(20):
            (path / f"folder{folder}" / f"file{number}").write_bytes(os.urandom(8192))


def timed(command: list[str], environment: dict[str, str], work: Path) -> tuple[float, int, str]:
    """Run ``command``; return (wall seconds, peak RSS in bytes, standard output)."""
    report = work / "time.txt"
    started = time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(report), *command],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{command} failed: {result.stderr}")
    return wall, int(report.read_text().split()[-1]) * 1024, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blobs", type=int, default=10_000_000)
    parser.add_argument("--work", default="/tmp/index-memory")
    options = parser.parse_args()
    work = Path(options.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "password").write_bytes(PASSPHRASE)
    make_tree(work / "source")
    started = time.perf_counter()
    make_repository(work / "large", options.blobs)
    print(f"wrote index files for {options.blobs:,} blobs in {time.perf_counter() - started:.1f} s")
    make_repository(work / "empty", 0)
    environment = dict(os.environ, RESGUARDO_PASSWORD_FILE=str(work / "password"))
    backup = [sys.executable, "-m", "resguardo", "backup", str(work / "source")]

    def run_backup(repository: str, cache: str) -> tuple[float, int]:
        step = dict(
            environment, RESGUARDO_REPOSITORY=str(work / repository), RESGUARDO_CACHE_DIR=str(work / cache)
        )
        wall, peak, _output = timed(backup, step, work)
        return wall, peak

    reference_wall, reference = run_backup("empty", "cache-empty")
    cold_wall, cold = run_backup("large", "cache-large")
    warm_wall, warm = run_backup("large", "cache-large")
    print(
        f"backup into an empty repository:        {reference_wall:6.2f} s, peak RSS {reference / 1e6:7.1f} MB"
    )
    for label, wall, peak in (("cold index cache", cold_wall, cold), ("warm index cache", warm_wall, warm)):
        per_blob = (peak - reference) / options.blobs
        print(
            f"backup into {options.blobs:,} blobs, {label}: {wall:6.2f} s, peak RSS {peak / 1e6:7.1f} MB, "
            f"{per_blob:5.1f} bytes per blob"
        )
    opener = [sys.executable, "-c", OPEN_SCRIPT, str(work / "large"), PASSPHRASE.decode()]
    shutil.rmtree(work / "cache-open", ignore_errors=True)
    opens = (("cold index cache", "cache-open"), ("warm index cache", "cache-open"), ("no cache folder", ""))
    for label, cache in opens:
        wall, peak, output = timed([*opener, str(work / cache) if cache else "-"], environment, work)
        seconds, count = output.split()
        print(
            f"open, {label}: load {seconds} s ({int(count):,} blobs), peak RSS {peak / 1e6:.1f} MB, "
            f"{(peak - reference) / options.blobs:5.1f} bytes per blob over the reference backup"
        )


if __name__ == "__main__":
    main()
