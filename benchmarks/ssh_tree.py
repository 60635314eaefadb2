"""Benchmark: a client's tree of many small files backed up over SSH, first and unchanged re-run.

Usage: .venv/bin/python benchmarks/ssh_tree.py [--files N] [--keep]

Creates a tree of N small files (default 100,000; 20 folders of 10 folders of N/200 files, 100 to
2,000 bytes each) under /tmp/bench/ssh-tree, starts an OpenSSH server on 127.0.0.1 (a free port, its own
host and client keys; the test fixture's code), then, in the same run:

* ``resguardo backup --ssh --ssh-no-tar`` into a fresh local repository: a first backup reading every
  file over SFTP, one exchange per file (how every file was read before tar streams);
* ``resguardo backup --ssh`` into another fresh local repository: a first backup (small files through
  tar streams) and an unchanged re-run; wall time of each, and the bytes that crossed the network
  (counted at the socket, both ways), the listing's bytes and the file contents' bytes, from the
  command's ``--json`` summary;
* ``resguardo backup`` of the same tree read locally, into another fresh repository: the floor (what
  the engine costs without a network), first and unchanged re-run.

restic has no agentless "read a remote tree over SSH" mode (``restic -r sftp:`` keeps the *repository*
on the server and reads local files, the opposite direction), so it is not compared here.
Prints one Markdown table. The server is stopped at the end, even on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.fixtures.sshd import start_server  # noqa: E402

BENCH = Path("/tmp/bench/ssh-tree")
PASSPHRASE = "bench-passphrase"


def make_tree(root: Path, files: int) -> None:
    """Create ``files`` small files in 200 leaf folders, two levels below ``root`` (same seed, same tree)."""
    marker = root / ".complete"
    if marker.is_file() and marker.read_text() == str(files):
        return
    shutil.rmtree(root, ignore_errors=True)
    generator = random.Random(5)
    per_folder = max(1, files // 200)
    made = 0
    for top in range(20):
        for middle in range(10):
            folder = root / f"dir{top:02}" / f"sub{middle}"
            folder.mkdir(parents=True)
            for number in range(per_folder):
                if made == files:
                    break
                (folder / f"file{number:05}.txt").write_bytes(
                    generator.randbytes(generator.randint(100, 2000))
                )
                made += 1
    (root / ".complete").write_text(str(files))


def resguardo(*arguments: str) -> tuple[float, dict[str, object]]:
    """Run resguardo with ``--json``; return the wall time and its summary line."""
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "resguardo", "--json", *arguments],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(HERE.parent / "src")},
    )
    elapsed = time.monotonic() - started
    if completed.returncode != 0:
        raise SystemExit(f"resguardo {' '.join(arguments)} failed:\n{completed.stderr}")
    if arguments[-1] == "init" or "backup" not in arguments:
        return elapsed, {}
    lines = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    summaries = [line for line in lines if line.get("message_type") == "summary"]
    return elapsed, summaries[-1] if summaries else {}


def size(amount: object) -> str:
    value = float(amount)  # type: ignore[arg-type]
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1000
    return str(amount)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the repositories afterwards")
    arguments = parser.parse_args()
    tree = BENCH / "tree"
    BENCH.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    make_tree(tree, arguments.files)
    print(f"tree of {arguments.files} files ready in {time.monotonic() - started:.0f} s", file=sys.stderr)
    password_file = BENCH / "passphrase"
    password_file.write_text(PASSPHRASE + "\n")
    for name in ("repo-sftp", "repo-ssh", "repo-local", "sshd"):
        shutil.rmtree(BENCH / name, ignore_errors=True)
    load_before = " ".join(f"{value:.1f}" for value in os.getloadavg())
    server = start_server(BENCH / "sshd")
    rows: list[tuple[str, float, dict[str, object]]] = []
    try:
        target = f"{server.user}@127.0.0.1:{server.port}"
        ssh = ["--ssh", target, "--ssh-key-file", str(server.client_key)]
        ssh += ["--ssh-known-hosts", str(server.known_hosts)]
        for name in ("repo-sftp", "repo-ssh", "repo-local"):
            resguardo("--repo", str(BENCH / name), "--password-file", str(password_file), "init")
        sftp_repo = ["--repo", str(BENCH / "repo-sftp"), "--password-file", str(password_file)]
        ssh_repo = ["--repo", str(BENCH / "repo-ssh"), "--password-file", str(password_file)]
        local_repo = ["--repo", str(BENCH / "repo-local"), "--password-file", str(password_file)]
        for label, command in (
            ("over SSH, first, SFTP only (before)", [*sftp_repo, "backup", *ssh, "--ssh-no-tar", str(tree)]),
            ("over SSH, first (tar streams)", [*ssh_repo, "backup", *ssh, str(tree)]),
            ("over SSH, unchanged re-run", [*ssh_repo, "backup", *ssh, str(tree)]),
            ("local floor, first", [*local_repo, "backup", str(tree)]),
            ("local floor, unchanged re-run", [*local_repo, "backup", str(tree)]),
        ):
            elapsed, summary = resguardo(*command)
            rows.append((label, elapsed, summary))
            print(f"{label}: {elapsed:.1f} s", file=sys.stderr)
    finally:
        server.stop()
        if not arguments.keep:
            for name in ("repo-sftp", "repo-ssh", "repo-local"):
                shutil.rmtree(BENCH / name, ignore_errors=True)
    print(f"load average before the run: {load_before}", file=sys.stderr)
    print(
        "| backup | wall time | files read (by tar) | network received | network sent | listing | contents |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, elapsed, summary in rows:
        if "network_bytes_received" in summary:
            network = [
                f"{summary.get('files_read')} ({summary.get('files_streamed', 0)})",
                size(summary["network_bytes_received"]),
                size(summary["network_bytes_sent"]),
                size(summary["listing_bytes"]),
                size(summary["content_bytes"]),
            ]
        else:
            read = int(summary.get("files_new", 0)) + int(summary.get("files_changed", 0))  # type: ignore[call-overload]
            network = [str(read), "-", "-", "-", "-"]
        print(f"| {label} | {elapsed:.1f} s | " + " | ".join(network) + " |")


if __name__ == "__main__":
    main()
