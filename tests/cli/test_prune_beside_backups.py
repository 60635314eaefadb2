"""Prune beside running backups: several backup processes over changing trees, snapshots forgotten and
prune run in a loop at the same time; afterwards the repository checks clean and every snapshot left
restores exactly the tree it recorded."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from resguardo.backends import LocalStorage
from tests.cli.conftest import PASSPHRASE, Repo, run_subprocess, subprocess_env

BACKUP_PROCESSES = 3
BACKUPS_EACH = 6
PIECES = 24


def piece(number: int) -> bytes:
    """Return content piece ``number`` of a shared pool: pieces leave trees and come back later."""
    generator = random.Random(number)
    return generator.randbytes(generator.randrange(20_000, 400_000))


def mutate(root: Path, generator: random.Random) -> dict[str, str]:
    """Rewrite the tree with a random choice of pieces; return {relative path: sha256} of what it holds."""
    for existing in root.glob("*"):
        if generator.random() < 0.5:
            existing.unlink()
    for _ in range(generator.randrange(3, 8)):
        number = generator.randrange(PIECES)
        data = piece(number)
        if generator.random() < 0.2:
            data += generator.randbytes(1000)  # a variant, so not everything deduplicates
        (root / f"file-{number}-{generator.randrange(1000)}").write_bytes(data)
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(root.glob("*"))}


def run_backups(
    repo: Repo, worker: int, records: list[tuple[str, dict[str, str]]], failures: list[str]
) -> None:
    """Back up a changing tree several times through real ``resguardo backup`` processes."""
    root = repo.tmp_path / f"tree-{worker}"
    root.mkdir()
    generator = random.Random(worker)
    for _ in range(BACKUPS_EACH):
        manifest = mutate(root, generator)
        outcome = run_subprocess([*repo.options, "--json", "backup", "--host", f"host-{worker}", str(root)])
        if outcome.exit_code != 0:
            failures.append(outcome.stderr)
            return
        summary = outcome.json_lines()[-1]
        records.append((summary["snapshot_id"], manifest))


def forget_all_but_newest(repo: Repo, keep: int) -> None:
    """Forget every snapshot but the newest ``keep`` of each host, through ``resguardo forget``."""
    outcome = run_subprocess([*repo.options, "forget", "--keep-last", str(keep), "--group-by", "host"])
    assert outcome.exit_code == 0, outcome.stderr


@pytest.mark.slow
def test_backups_in_parallel_with_prune_in_a_loop_lose_nothing(repo: Repo) -> None:
    records: list[tuple[str, dict[str, str]]] = []
    failures: list[str] = []
    workers = [
        threading.Thread(target=run_backups, args=(repo, worker, records, failures))
        for worker in range(BACKUP_PROCESSES)
    ]
    for thread in workers:
        thread.start()
    prunes = deleted = repacked = 0
    while any(thread.is_alive() for thread in workers) or prunes < 2:
        forget_all_but_newest(repo, keep=2)
        outcome = run_subprocess([*repo.options, "--json", "prune", "--max-unused", "10"])
        assert outcome.exit_code == 0, outcome.stderr
        summary = outcome.json_lines()[-1]
        deleted += summary["packs_deleted"]
        repacked += summary["packs_repacked"]
        prunes += 1
    for thread in workers:
        thread.join()
    assert not failures, failures[0]
    assert len(records) == BACKUP_PROCESSES * BACKUPS_EACH

    forget_all_but_newest(repo, keep=2)
    final = run_subprocess([*repo.options, "--json", "prune", "--wait", "60"])
    assert final.exit_code == 0, final.stderr
    assert final.json_lines()[-1]["finished"]
    check = run_subprocess([*repo.options, "check", "--read-data"])
    assert check.exit_code == 0, check.stdout + check.stderr

    manifests = dict(records)
    remaining = [
        stored.name.removeprefix("snapshots/") for stored in LocalStorage(repo.path).list("snapshots/")
    ]
    assert len(remaining) == BACKUP_PROCESSES * 2
    for snapshot_id in remaining:
        target = repo.tmp_path / f"restored-{snapshot_id[:8]}"
        outcome = run_subprocess([*repo.options, "restore", snapshot_id, "--target", str(target)])
        assert outcome.exit_code == 0, outcome.stderr
        (tree,) = [path for path in target.rglob("tree-*") if path.is_dir()]
        restored = {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(tree.glob("*"))
        }
        assert restored == manifests[snapshot_id], (
            f"snapshot {snapshot_id[:8]} does not restore what it recorded"
        )
    assert prunes >= 2


def test_a_backup_that_began_before_a_plan_is_waited_for(repo: Repo, source: Path) -> None:
    """A session holding a lock when the plan is published delays the sweep; the next prune finishes it."""
    assert repo("backup", str(source)).exit_code == 0
    snapshot = repo.json("snapshots")[0]["id"]
    (repo.path / "snapshots" / snapshot).unlink()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from resguardo.backends import LocalStorage;"
            "from resguardo.engine.repository import Repository; from resguardo.engine.locks import locked;"
            f"repository = Repository.open(LocalStorage({str(repo.path)!r}), {PASSPHRASE!r}.encode());"
            "lock = locked(repository); lock.__enter__(); print('locked', flush=True); sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=subprocess_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        waiting = run_subprocess([*repo.options, "--json", "prune"])
        summary = waiting.json_lines()[-1]
        assert waiting.exit_code == 0, waiting.stderr
        assert not summary["finished"]
        assert summary["packs_deleted"] == 0
        assert any(str(holder.pid) in session for session in summary["waiting_for"])
        assert list((repo.path / "prune").iterdir()), "the plan is kept for the next prune"
    finally:
        assert holder.stdin is not None
        holder.stdin.write(b"\n")
        holder.stdin.close()
        holder.wait(timeout=30)
        assert holder.stdout is not None
        holder.stdout.close()
    finished = run_subprocess([*repo.options, "--json", "prune"]).json_lines()[-1]
    assert finished["finished"]
    assert finished["packs_deleted"] > 0
    assert finished["bytes_deleted"] > 0
    assert not list((repo.path / "prune").iterdir())
    assert run_subprocess([*repo.options, "check"]).exit_code == 0
