"""The cost of verifying a backup as its run ends: the same backup with and without the read-back.

Usage: .venv/bin/python benchmarks/run_verification.py [--data /tmp/bench/data] [--repeat 3] [--json]

Each repetition backs the dataset up twice into fresh local repositories, the way a worker does (threads,
no worker processes), in alternating order: once alone, once followed by the read-back of what it wrote
(:func:`resguardo.engine.checker.verify_written` on the packs it uploaded and its snapshot). Both are timed
from the start of the backup to the end of the verification (wall clock); the verification is also timed
alone, and once more with ``decode`` (every blob decompressed and hashed to its ID, the data check's depth;
not counted in the total). Then an unchanged second backup into the verified repository is timed with
its (small) verification. The dataset is read once before, so every backup reads from a warm page
cache. Prints one line per backup and the medians; the repositories are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from resguardo.backends import LocalStorage
from resguardo.engine.archiver import BackupOptions, backup
from resguardo.engine.checker import verify_written
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.repository import Repository

PASSPHRASE = b"benchmark passphrase"
FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
OPTIONS = BackupOptions(hostname="bench", processes=False)


def warm(data: Path) -> None:
    """Read every file of ``data`` once, so that every backup reads from the page cache."""
    for folder, _dirs, files in os.walk(data):
        for name in files:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                with path.open("rb") as stream:
                    while stream.read(1 << 20):
                        pass


def one_backup(data: Path, location: Path, *, verify: bool) -> dict[str, float]:
    """Back ``data`` up into a new repository at ``location``; return the seconds taken (and verifying)."""
    repository = Repository.create(LocalStorage(location), PASSPHRASE, kdf=FAST_KDF)
    started = time.perf_counter()
    result = backup(repository, [str(data)], OPTIONS)
    backed_up = time.perf_counter()
    figures = {"backup": backed_up - started, "verify": 0.0, "packs": float(len(repository.written_packs))}
    if verify:
        problems = verify_written(repository, repository.written_packs, result.snapshot.id)
        assert not problems, problems
        figures["verify"] = time.perf_counter() - backed_up
    figures["total"] = time.perf_counter() - started
    if verify:
        decoding = time.perf_counter()
        problems = verify_written(repository, repository.written_packs, result.snapshot.id, decode=True)
        assert not problems, problems
        figures["verify_decode"] = time.perf_counter() - decoding
    figures["stored_bytes"] = float(
        sum(path.stat().st_size for path in location.rglob("*") if path.is_file())
    )
    return figures


def unchanged_second(data: Path, location: Path) -> dict[str, float]:
    """Back ``data`` up again into the repository at ``location`` and verify what that wrote."""
    repository = Repository.open(LocalStorage(location), PASSPHRASE)
    started = time.perf_counter()
    result = backup(repository, [str(data)], OPTIONS)
    backed_up = time.perf_counter()
    verify_written(repository, repository.written_packs, result.snapshot.id)
    done = time.perf_counter()
    return {
        "backup": backed_up - started,
        "verify": done - backed_up,
        "packs": float(len(repository.written_packs)),
    }


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/bench/data"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    warm(arguments.data)
    work = Path(tempfile.mkdtemp(prefix="verification-bench-"))
    rows: list[dict[str, float | str | int]] = []
    try:
        for repetition in range(arguments.repeat):
            order = (False, True) if repetition % 2 == 0 else (True, False)
            for verify in order:
                location = work / f"repo-{repetition}-{int(verify)}"
                figures = one_backup(arguments.data, location, verify=verify)
                rows.append({"repetition": repetition, "mode": "with" if verify else "without", **figures})
                print(json.dumps(rows[-1]), flush=True)
                if verify and repetition == 0:
                    second = unchanged_second(arguments.data, location)
                    rows.append({"repetition": repetition, "mode": "unchanged second", **second})
                    print(json.dumps(rows[-1]), flush=True)
                shutil.rmtree(location)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    without = statistics.median(float(row["total"]) for row in rows if row["mode"] == "without")
    with_verify = statistics.median(float(row["total"]) for row in rows if row["mode"] == "with")
    verify_alone = statistics.median(float(row["verify"]) for row in rows if row["mode"] == "with")
    decoding = statistics.median(float(row["verify_decode"]) for row in rows if row["mode"] == "with")
    backup_alone = statistics.median(
        float(row["backup"]) for row in rows if row["mode"] in ("with", "without")
    )
    summary = {
        "median_without_s": round(without, 2),
        "median_with_s": round(with_verify, 2),
        "median_verify_s": round(verify_alone, 2),
        "added_percent": round((with_verify - without) * 100 / without, 1),
        "median_backup_s": round(backup_alone, 2),
        "verify_share_of_backup_percent": round(verify_alone * 100 / backup_alone, 1),
        "median_verify_decode_s": round(decoding, 2),
        "verify_decode_share_of_backup_percent": round(decoding * 100 / backup_alone, 1),
    }
    print(
        json.dumps(summary)
        if arguments.json
        else "\n".join(f"{key}: {value}" for key, value in summary.items())
    )


if __name__ == "__main__":
    main()
