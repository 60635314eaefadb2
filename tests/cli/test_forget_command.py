"""forget: the dry-run table and JSON, removal by policy and by ID, filters, groups, locks, bad arguments."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from resguardo.backends import LocalStorage
from resguardo.core.errors import EXIT_FAILURE, EXIT_REPOSITORY_LOCKED, EXIT_USAGE
from resguardo.engine.locks import locked
from resguardo.engine.repository import SNAPSHOTS_PREFIX, Repository
from resguardo.engine.snapshot import list_snapshots
from tests.cli.conftest import PASSPHRASE, Repo

MakeSnapshot = Callable[..., str]
NOVEMBER = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def open_repository(repo: Repo) -> Repository:
    return Repository.open(LocalStorage(str(repo.path)), PASSPHRASE.encode(), with_index=False)


@pytest.fixture
def make_snapshot(repo: Repo, source: Path) -> MakeSnapshot:
    """Back up ``source`` once, and return a function that saves copies of that snapshot at chosen times.

    The copy takes a time, and optionally a host and tags; it returns the new snapshot's ID. The snapshot
    of the backup itself is removed, so that the repository holds only the copies.
    """
    assert repo("backup", str(source)).exit_code == 0
    repository = open_repository(repo)
    (template,) = list_snapshots(repository)
    repository.storage.remove(SNAPSHOTS_PREFIX + template.id)

    def make(moment: datetime, *, host: str = "alpha", tags: Sequence[str] = ()) -> str:
        template.time, template.hostname, template.tags = moment, host, list(tags)
        return repository.save_snapshot_document(template.to_document())

    return make


def daily(make: MakeSnapshot, days: int, **options: object) -> list[str]:
    """Make one snapshot a day at noon from 2026-11-01; return their IDs, oldest first."""
    return [make(NOVEMBER + timedelta(days=day), **options) for day in range(days)]


def remaining(repo: Repo) -> list[str]:
    return [snapshot["id"] for snapshot in repo.json("snapshots")]


def test_dry_run_shows_every_snapshot_with_the_rules_that_keep_it_and_changes_nothing(
    repo: Repo, source: Path, make_snapshot: MakeSnapshot
) -> None:
    ids = daily(make_snapshot, 10)
    outcome = repo("forget", "--keep-last", "1", "--keep-daily", "3", "--dry-run")
    assert outcome.exit_code == 0, outcome.stderr
    lines = outcome.stdout.splitlines()
    assert f"host alpha; paths {source}: keep 3, remove 7" in lines
    header = next(line for line in lines if line.startswith("ID"))
    assert header.split() == ["ID", "Time", "Host", "Tags", "Action", "Reasons"]
    rows = [line for line in lines if line[:8] in {identifier[:8] for identifier in ids}]
    assert len(rows) == 10
    assert rows[0].startswith(ids[-1][:8])  # newest first
    assert "2026-11-10 12:00:00 UTC" in rows[0]
    assert "keep" in rows[0] and "last #1" in rows[0]
    assert "daily #1 (2026-11-10)" in outcome.stdout  # the second reason, on its own line
    assert "daily #3 (2026-11-08)" in rows[2]
    assert "remove" in rows[3] and "no rule keeps it" in rows[3]
    assert lines[-1] == "would remove 7 of 10 snapshots (dry run: nothing was changed)"
    assert sorted(remaining(repo)) == sorted(ids)


def test_dry_run_json_gives_the_policy_and_each_group_with_every_decision(
    repo: Repo, source: Path, make_snapshot: MakeSnapshot
) -> None:
    ids = daily(make_snapshot, 5)
    document = repo.json("forget", "--keep-within", "2d", "--keep-tag", "none-has-it", "--dry-run")
    assert document["dry_run"] is True
    assert document["policy"] == {"keep_within": "2d", "keep_tags": ["none-has-it"]}
    assert document["group_by"] == ["host", "paths"]
    (group,) = document["groups"]
    assert group["group"] == {"hostname": "alpha", "paths": [str(source)]}
    assert [(item["id"], item["keep"], item["reasons"]) for item in group["snapshots"]] == [
        (ids[4], True, ["within 2d"]),
        (ids[3], True, ["within 2d"]),
        (ids[2], False, ["no rule keeps it"]),
        (ids[1], False, ["no rule keeps it"]),
        (ids[0], False, ["no rule keeps it"]),
    ]
    assert {"short_id", "time", "hostname", "paths", "tags"} <= set(group["snapshots"][0])
    assert document["remove"] == [ids[2], ids[1], ids[0]]
    assert document["removed"] == []
    assert len(remaining(repo)) == 5


def test_forget_removes_the_snapshots_nothing_keeps_and_leaves_the_data_for_prune(
    repo: Repo, source: Path, make_snapshot: MakeSnapshot, tmp_path: Path
) -> None:
    ids = daily(make_snapshot, 6)
    packs_before = sorted((repo.path / "data").rglob("*"))
    outcome = repo("forget", "--keep-last", "2")
    assert outcome.exit_code == 0, outcome.stderr
    assert "keep 2, remove 4" in outcome.stdout
    assert outcome.stdout.splitlines()[-1] == (
        "removed 4 of 6 snapshots; run 'resguardo prune' to reclaim the space"
    )
    assert remaining(repo) == ids[4:]
    assert sorted((repo.path / "data").rglob("*")) == packs_before
    assert repo("check").exit_code == 0
    target = tmp_path / "restored"
    assert repo("restore", ids[5][:8], "--target", str(target)).exit_code == 0
    assert (target / str(source).lstrip("/") / "a.txt").read_bytes() == b"hello, world\n"


def test_forget_json_lists_what_it_removed(repo: Repo, make_snapshot: MakeSnapshot) -> None:
    ids = daily(make_snapshot, 3)
    document = repo.json("forget", "--keep-last", "1")
    assert document["dry_run"] is False
    assert document["remove"] == document["removed"] == [ids[1], ids[0]]
    assert remaining(repo) == [ids[2]]


def test_each_host_is_a_group_of_its_own_unless_grouping_by_nothing(
    repo: Repo, make_snapshot: MakeSnapshot
) -> None:
    alpha = daily(make_snapshot, 3, host="alpha")
    beta = [make_snapshot(NOVEMBER + timedelta(days=day, hours=1), host="beta") for day in range(3)]
    by_host = repo.json("forget", "--keep-last", "1", "--dry-run")
    assert [group["group"]["hostname"] for group in by_host["groups"]] == ["alpha", "beta"]
    assert sorted(by_host["remove"]) == sorted(alpha[:2] + beta[:2])
    single = repo.json("forget", "--keep-last", "1", "--group-by", "", "--dry-run")
    assert [group["group"] for group in single["groups"]] == [{}]
    assert sorted(single["remove"]) == sorted(alpha + beta[:2])
    text = repo("forget", "--keep-last", "1", "--group-by", "", "--dry-run").stdout
    assert "all snapshots (one group): keep 1, remove 5" in text


def test_filters_choose_the_snapshots_the_policy_considers(repo: Repo, make_snapshot: MakeSnapshot) -> None:
    alpha = daily(make_snapshot, 3, host="alpha")
    beta = daily(make_snapshot, 3, host="beta", tags=["db"])
    assert repo.json("forget", "--keep-last", "1", "--host", "beta")["removed"] == [beta[1], beta[0]]
    assert repo.json("forget", "--keep-last", "1", "--tag", "db")["removed"] == []
    assert repo.json("forget", "--keep-last", "1", "--path", "/elsewhere")["groups"] == []
    assert sorted(remaining(repo)) == sorted([*alpha, beta[2]])
    assert repo("forget", "--keep-last", "1", "--host", "gamma").stdout.strip() == (
        "no snapshot matches: nothing to do"
    )


def test_keep_tag_keeps_tagged_snapshots_whatever_their_age(repo: Repo, make_snapshot: MakeSnapshot) -> None:
    old = make_snapshot(NOVEMBER - timedelta(days=400), tags=["audit"])
    legal = make_snapshot(NOVEMBER - timedelta(days=300), tags=["legal"])
    plain = make_snapshot(NOVEMBER - timedelta(days=200))
    newest = make_snapshot(NOVEMBER)
    document = repo.json("forget", "--keep-last", "1", "--keep-tag", "audit", "--keep-tag", "legal")
    assert document["removed"] == [plain]
    assert sorted(remaining(repo)) == sorted([old, legal, newest])


def test_minus_one_keeps_every_period(repo: Repo, make_snapshot: MakeSnapshot) -> None:
    midnight = NOVEMBER.replace(hour=0)
    ids = [make_snapshot(midnight + timedelta(hours=hours)) for hours in range(0, 72, 12)]
    document = repo.json("forget", "--keep-daily", "-1", "--dry-run")
    kept = [item["id"] for item in document["groups"][0]["snapshots"] if item["keep"]]
    assert kept == [ids[5], ids[3], ids[1], ids[0]]  # the newest of each of 3 days, and the oldest


def test_snapshot_ids_forget_those_snapshots_by_prefix(repo: Repo, make_snapshot: MakeSnapshot) -> None:
    ids = daily(make_snapshot, 4)
    preview = repo.json("forget", ids[0][:8], ids[2], "--dry-run")
    assert preview["policy"] is None
    assert [item["reasons"] for item in preview["groups"][0]["snapshots"]] == [
        ["named on the command line"]
    ] * 2
    outcome = repo("forget", ids[0][:8], ids[2], ids[2][:10])
    assert outcome.exit_code == 0, outcome.stderr
    assert "snapshots named: keep 0, remove 2" in outcome.stdout
    assert "removed 2 of 2 snapshots; run 'resguardo prune' to reclaim the space" in outcome.stdout
    assert remaining(repo) == [ids[1], ids[3]]


def test_an_unknown_snapshot_id_removes_nothing(repo: Repo, make_snapshot: MakeSnapshot) -> None:
    ids = daily(make_snapshot, 2)
    outcome = repo("forget", ids[0], "0" * 12)
    assert outcome.exit_code == EXIT_FAILURE
    assert "no snapshot matches '000000000000'" in outcome.stderr
    assert sorted(remaining(repo)) == sorted(ids)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "no policy given: every snapshot would be removed"),
        (["--keep-within", "3x"], "--keep-within: '3x' is not a duration"),
        (["--keep-within-daily", "0d"], "--keep-within-daily: the duration '0d' is zero"),
        (["--keep-daily", "-2"], "keep-daily is -2"),
        (["--keep-last", "1", "--group-by", "host,user"], "cannot group by user"),
        (["--keep-last", "1", "ID"], "give snapshot IDs or --keep-* options, not both"),
        (["ID", "--host", "alpha"], "--host, --tag, --path and --group-by apply to a policy"),
        (["ID", "--group-by", "host"], "--host, --tag, --path and --group-by apply to a policy"),
        (["--keep-daily", "seven"], "'seven' is not a valid int"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message_and_remove_nothing(
    repo: Repo, make_snapshot: MakeSnapshot, arguments: list[str], message: str
) -> None:
    ids = daily(make_snapshot, 2)
    outcome = repo("forget", *[ids[0] if item == "ID" else item for item in arguments])
    assert outcome.exit_code == EXIT_USAGE, outcome.stderr
    assert message in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert sorted(remaining(repo)) == sorted(ids)


def test_the_empty_policy_hint_names_the_options(repo: Repo, make_snapshot: MakeSnapshot) -> None:
    daily(make_snapshot, 1)
    outcome = repo("forget")
    assert "hint: give at least one --keep-* option" in outcome.stderr


def test_forget_runs_beside_a_shared_lock_but_stops_at_an_exclusive_one(
    repo: Repo, make_snapshot: MakeSnapshot
) -> None:
    ids = daily(make_snapshot, 3)
    repository = open_repository(repo)
    with locked(repository, exclusive=True):
        outcome = repo("forget", "--keep-last", "1")
        assert outcome.exit_code == EXIT_REPOSITORY_LOCKED
        assert "the repository is locked" in outcome.stderr
        assert repo("forget", "--keep-last", "1", "--dry-run").exit_code == 0
    assert sorted(remaining(repo)) == sorted(ids)
    with locked(repository, exclusive=False):
        assert repo("forget", "--keep-last", "1").exit_code == 0
    assert remaining(repo) == [ids[2]]
    assert not list((repo.path / "locks").iterdir())


def test_quiet_forget_prints_nothing(repo: Repo, make_snapshot: MakeSnapshot) -> None:
    ids = daily(make_snapshot, 2)
    outcome = repo("--quiet", "forget", "--keep-last", "1")
    assert outcome.exit_code == 0
    assert outcome.stdout == ""
    assert remaining(repo) == [ids[1]]
