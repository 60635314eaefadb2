"""repair index and repair snapshots from the command line: messages, JSON, exit codes, what restores."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Repo, run_subprocess


def tree_of(root: Path) -> dict[str, bytes | str]:
    """Return {relative path: content, link target or "dir"} for everything under ``root``."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_symlink():
            found[relative] = "-> " + str(path.readlink())
        elif path.is_dir():
            found[relative] = "dir"
        else:
            found[relative] = path.read_bytes()
    return found


def restored(repo: Repo, source: Path, snapshot: str, name: str) -> dict[str, bytes | str]:
    target = repo.tmp_path / name
    outcome = repo("restore", snapshot, "--target", str(target))
    assert outcome.exit_code == 0, outcome.stderr
    return tree_of(target / source.relative_to("/"))


def data_packs_by_size(repo: Repo) -> list[Path]:
    packs = [path for path in (repo.path / "data").rglob("*") if path.is_file()]
    return sorted(packs, key=lambda path: path.stat().st_size, reverse=True)


def test_repair_index_rebuilds_deleted_index_files_and_every_snapshot_restores(
    repo: Repo, source: Path
) -> None:
    assert repo("backup", str(source)).exit_code == 0
    expected = tree_of(source)
    for index_file in (repo.path / "index").iterdir():
        index_file.unlink()

    outcome = run_subprocess([*repo.options, "repair", "index"], RESGUARDO_TEST_KDF="fast")

    assert outcome.exit_code == 0, outcome.stderr
    assert "index rebuilt:" in outcome.stdout
    assert "lost" not in outcome.stdout
    assert repo("check", "--read-data").exit_code == 0
    assert restored(repo, source, "latest", "target") == expected
    again = repo("--json", "repair", "index")
    assert again.exit_code == 0
    summary = again.json_lines()[-1]
    assert summary["message_type"] == "summary" and summary["operation"] == "repair index"
    assert summary["unchanged"] is True and summary["lost_blobs"] == []


def test_a_lost_pack_is_repaired_in_order_and_the_damaged_files_come_back_marked(
    repo: Repo, source: Path
) -> None:
    assert repo("backup", str(source)).exit_code == 0
    expected = tree_of(source)
    data_packs_by_size(repo)[0].unlink()

    refused = repo("repair", "snapshots")
    assert refused.exit_code == 1
    assert "not in storage" in refused.stderr and "repair index" in refused.stderr

    index = repo("repair", "index")
    assert index.exit_code == 0, index.stderr
    assert "missing: pack data/" in index.stdout
    assert "run 'resguardo repair snapshots'" in index.stdout
    assert repo("check").exit_code == 1

    before = sorted(path.name for path in (repo.path / "snapshots").iterdir())
    dry = repo("repair", "snapshots", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "would be repaired" in dry.stdout and "dry run: nothing was written" in dry.stdout
    assert sorted(path.name for path in (repo.path / "snapshots").iterdir()) == before

    outcome = repo("--json", "repair", "snapshots")
    assert outcome.exit_code == 0, outcome.stderr
    summary = outcome.json_lines()[-1]
    assert summary["snapshots_repaired"] == 1 and summary["paths_lost"] >= 1
    lost = summary["repaired"][0]["lost"]
    assert all(item["marked_as"] == item["path"] + ".damaged" for item in lost)

    assert repo("check", "--read-data").exit_code == 0
    snapshots = repo.json("snapshots")
    assert len(snapshots) == 1 and "repaired" in snapshots[0]["tags"]
    assert snapshots[0]["repair"]["original"] == before[0]
    found = restored(repo, source, "latest", "target")
    for item in lost:
        name = str(Path(item["path"]).relative_to(source))
        assert name + ".damaged" in found and name not in found
        del expected[name]
    assert {name: value for name, value in found.items() if not name.endswith(".damaged")} == expected

    second = repo("repair", "snapshots")
    assert second.exit_code == 0
    assert "0 repaired, 1 unchanged; 0 paths lost" in second.stdout


def test_repair_snapshots_prints_each_lost_path_and_keeps_originals_when_asked(
    repo: Repo, source: Path
) -> None:
    assert repo("backup", str(source)).exit_code == 0
    original = repo.json("snapshots")[0]["id"]
    data_packs_by_size(repo)[0].unlink()
    assert repo("repair", "index").exit_code == 0

    outcome = repo("repair", "snapshots", original[:8], "--keep-originals")

    assert outcome.exit_code == 0, outcome.stderr
    assert f"snapshot {original[:8]} (" in outcome.stdout and "(original kept):" in outcome.stdout
    assert f"  lost: {source}/sub/b.bin -> {source}/sub/b.bin.damaged (" in outcome.stdout
    assert "1 repaired, 0 unchanged" in outcome.stdout
    ids = {snapshot["id"] for snapshot in repo.json("snapshots")}
    assert original in ids and len(ids) == 2


def test_repair_snapshots_names_an_unknown_snapshot_clearly(repo: Repo, source: Path) -> None:
    assert repo("backup", str(source)).exit_code == 0

    outcome = repo("repair", "snapshots", "ffffffff")

    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("error: no snapshot matches 'ffffffff'")
    assert "Traceback" not in outcome.stderr


def test_repair_without_a_subcommand_lists_its_commands() -> None:
    outcome = run_subprocess(["repair", "--help"])

    assert outcome.exit_code == 0
    assert "index" in outcome.stdout and "snapshots" in outcome.stdout
