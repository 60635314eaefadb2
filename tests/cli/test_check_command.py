"""check: a healthy repository passes; damage is printed with every snapshot path it affects, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resguardo.core.errors import EXIT_USAGE
from tests.cli.conftest import Repo


def largest_pack(repo: Repo) -> Path:
    return max(
        (repo.path / "data").rglob("*"), key=lambda path: path.stat().st_size if path.is_file() else -1
    )


def test_a_healthy_repository_passes_every_kind_of_check(repo: Repo, source: Path) -> None:
    assert repo("backup", str(source)).exit_code == 0
    for arguments in ([], ["--read-data"], ["--read-data-subset", "50%"], ["--read-data-subset", "1/3"]):
        outcome = repo("check", *arguments)
        assert outcome.exit_code == 0, outcome.stderr
        assert outcome.stdout.rstrip().endswith("no errors found")
    lines = repo("--json", "check", "--read-data").json_lines()
    summary = lines[-1]
    assert summary["message_type"] == "summary"
    assert summary["operation"] == "check"
    assert summary["ok"] is True
    assert summary["read_data"] is True
    assert summary["errors"] == []
    assert summary["counts"]["packs_read"] >= 2
    assert {"warnings", "affected", "affected_snapshots", "seconds"} <= set(summary)


def test_damaged_data_is_listed_with_the_paths_it_affects(repo: Repo, source: Path) -> None:
    snapshot = repo("--json", "backup", str(source)).json_lines()[-1]
    pack = largest_pack(repo)
    content = bytearray(pack.read_bytes())
    content[len(content) // 3] ^= 0xFF
    pack.write_bytes(bytes(content))

    structure_only = repo("check")
    assert structure_only.exit_code == 0, "a flipped byte inside a pack is found only by reading the data"

    outcome = repo("check", "--read-data")
    assert outcome.exit_code == 1
    assert "error: pack data/" in outcome.stdout
    assert f"  snapshot {snapshot['short_id']}:" in outcome.stdout
    assert f"    {source}/sub/b.bin" in outcome.stdout
    assert outcome.stderr.splitlines()[0].startswith("error: the repository has ")
    assert outcome.stderr.splitlines()[0].endswith("affecting 1 snapshot")
    assert "Traceback" not in outcome.stderr

    as_json = repo("--json", "check", "--read-data")
    assert as_json.exit_code == 1
    summary = as_json.json_lines()[-1]
    assert summary["ok"] is False
    assert summary["affected_snapshots"] == [snapshot["short_id"]]
    affected_paths = {item["path"] for items in summary["affected"].values() for item in items}
    assert f"{source}/sub/b.bin" in affected_paths
    error = json.loads(as_json.stderr)
    assert error == {
        "message_type": "error",
        "code": 1,
        "message": error["message"],
        "hint": error["hint"],
    }


def test_a_missing_pack_names_the_paths_of_its_blobs(repo: Repo, source: Path) -> None:
    snapshot = repo("--json", "backup", str(source)).json_lines()[-1]
    largest_pack(repo).unlink()
    outcome = repo("check")
    assert outcome.exit_code == 1
    assert "pack is missing" in outcome.stdout
    assert "paths that the errors above make unrestorable:" in outcome.stdout
    assert f"  snapshot {snapshot['short_id']}:" in outcome.stdout
    assert f"    {source}/sub/b.bin" in outcome.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--read-data", "--read-data-subset", "10%"],
            "error: give --read-data or --read-data-subset, not both",
        ),
        (["--read-data-subset", "150%"], "error: subset '150%' must be more than 0% and at most 100%"),
        (["--read-data-subset", "4/3"], "error: subset '4/3' must be n/t with 1 <= n <= t"),
        (["--read-data-subset", "some"], "error: 'some' is not a subset of packs"),
    ],
)
def test_check_usage_errors(repo: Repo, arguments: list[str], message: str) -> None:
    outcome = repo("check", *arguments)
    assert outcome.exit_code == EXIT_USAGE
    assert outcome.stderr.splitlines()[0] == message
