"""Every catalog command, the same scenario on the catalog's database (local) and on a real server by URL
with an API token (remote): the same exit codes, tables and JSON in both, secrets never printed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from resguardo.catalog import queries
from resguardo.catalog.enums import RunState, Verification
from resguardo.clock import SYSTEM_CLOCK
from resguardo.jobs.scheduling_loop import schedule_pass
from tests.cli.catalog_modes import Mode, opened_mode
from tests.cli.conftest import Outcome

PASSPHRASE = "sealed repository passphrase 42"
PASSWORD = "a long user password for tests"
DAILY = '{"kind": "daily", "at": "01:00"}'
JOB_OPTIONS = ("--client", "here", "--repository", "main", "--category", "databases", "--path", "/srv/docs")
Run = Callable[..., Outcome]
MOMENT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?")


@dataclass
class Step:
    """One command of the scenario and what it gave."""

    argv: tuple[str, ...]
    outcome: Outcome
    expected: int

    def normalized(self) -> tuple[tuple[str, ...], int, str]:
        """Return the command, its exit code and its output with the moments left out."""
        return self.argv, self.outcome.exit_code, MOMENT.sub("<moment>", self.outcome.stdout)


def _secret(folder: Path, name: str, value: str) -> str:
    path = folder / name
    path.write_text(value + "\n")
    return str(path)


def _queue_run(mode: Mode) -> int:
    """Let a scheduling pass queue the run asked for; return its ID."""
    [run_id] = schedule_pass(mode.sessions, SYSTEM_CLOCK.now()).queued
    return run_id


def _fail_next_run(mode: Mode) -> None:
    """Let a worker claim the queued run and fail it, its job not retrying: a failure-log entry opens."""
    now = SYSTEM_CLOCK.now()
    with mode.sessions() as session:
        job = queries.find_job(session, "docs")
        queries.update_job(session, job.id, {"max_retries": 0}, now=now)
        session.commit()
        run = queries.claim_next_run(session, "worker-1", now)
        assert run is not None
        queries.finish_run(session, run.id, "worker-1", RunState.FAILED, now, error="disk full")
        session.commit()


WARNING = "the backup has 75% fewer files than the last one (40 → 10)"


def _warn_next_run(mode: Mode) -> int:
    """Let a worker claim the queued run and finish it with a verification warning; return its ID."""
    now = SYSTEM_CLOCK.now()
    with mode.sessions() as session:
        run = queries.claim_next_run(session, "worker-1", now)
        assert run is not None
        reasons = [{"code": "files_changed", "message": WARNING, "figures": {"before": 40, "after": 10}}]
        queries.finish_run(
            session,
            run.id,
            "worker-1",
            RunState.SUCCEEDED,
            now,
            verification=Verification.WARNINGS,
            verification_reasons=reasons,
            verification_figures={"bytes": 100, "files": 10, "streams": {}},
        )
        session.commit()
        return run.id


def _inventory(run: Run, files: Path) -> None:
    secret = _secret(files, "passphrase", PASSPHRASE)
    run("client", "add", "web", "--address", "web.example", "--ssh-user", "backup")
    run("client", "add", "here", "--transport", "local")
    run("client", "add", "web", "--address", "other.example", code=1)  # the name is taken
    run("client", "add", "odd", "--address", "x", "--transport", "pigeon", code=2)
    run("client", "edit", "web", "--port", "2222", "--notes", "rack 4")
    run("client", "list")
    run("client", "list", json=False)
    run("client", "show", "web", json=False)
    run("client", "show", "nope", code=1)
    run("repository", "add", "main", "--url", str(files / "repo"), "--password-file", secret)
    run("repository", "add", "bad", "--url", "ftp://example/x", "--password-file", secret, code=2)
    new_secret = _secret(files, "new-passphrase", PASSPHRASE + " changed")
    run("repository", "edit", "main", "--notes", "offsite", "--password-file", new_secret)
    run("repository", "list")
    run("repository", "show", "main", json=False)


def _people(run: Run, files: Path) -> None:
    password = _secret(files, "password", PASSWORD)
    run("user", "add", "ana", "--role", "operator", "--password-file", password)
    run("user", "add", "bob", "--password-file", _secret(files, "short", "short"), code=2)
    run("user", "add", "eve", "--role", "wizard", "--password-file", password, code=2)
    run("user", "edit", "ana", "--role", "auditor", "--email", "ana@example.org", "--inactive")
    run("user", "list", json=False)
    run("user", "show", "ana")


def _plans(run: Run, mode: Mode) -> None:
    run("job", "add", "docs", *JOB_OPTIONS, "--schedule", DAILY)
    run("job", "add", "odd", *JOB_OPTIONS, "--schedule", '{"kind": "sometimes"}', code=2)
    run("job", "add", "ghost", "--client", "nobody", *JOB_OPTIONS[2:], code=1)
    run("job", "edit", "docs", "--description", "the documents", "--exclude", "*.tmp", "--path", "/srv/docs")
    run("job", "pause", "docs")
    run("job", "run", "docs", code=1)  # a paused job does not run
    run("job", "resume", "docs")
    run("job", "run", "docs")
    run("job", "run", "docs", json=False)
    run("job", "list")
    run("job", "list", json=False)
    run("job", "show", "docs", json=False)
    run_id = str(_queue_run(mode))
    run("run", "list")
    run("run", "list", "--job", "docs", json=False)
    run("run", "show", run_id)
    run("run", "show", run_id, json=False)
    run("run", "cancel", run_id)
    run("run", "cancel", run_id, code=1)  # not queued any more
    run("run", "show", "999999", code=1)
    run("job", "run", "docs")
    _queue_run(mode)
    _fail_next_run(mode)
    run("failure", "list")
    run("failure", "list", "--open", "--job", "docs", json=False)
    run("failure", "show", "1", json=False)
    run("job", "edit", "docs", "--size-change-percent", "20", "--unchanged-dump-days", "0")
    run("job", "edit", "docs", "--file-count-change-percent", "0", code=2)
    run("job", "show", "docs", json=False)
    run("job", "edit", "docs", "--category-thresholds")
    run("job", "run", "docs")
    _queue_run(mode)
    warned = str(_warn_next_run(mode))
    run("run", "show", warned, json=False)
    run("run", "show", warned)
    run("run", "list", "--job", "docs", json=False)


def _removals(run: Run) -> None:
    run("job", "remove", "docs", code=1)  # its runs must be kept (R21)
    run("client", "remove", "here", code=1)  # a job uses it
    run("repository", "remove", "main", code=1)  # a job uses it
    run("client", "remove", "web")
    run("user", "remove", "ana")
    run("user", "list")


def scenario(mode: Mode, files: Path) -> list[Step]:
    """Run every catalog command, good and bad, in ``mode``; return each with what it gave."""
    steps: list[Step] = []

    def run(*argv: str, json: bool = True, code: int = 0) -> Outcome:
        outcome = mode.cli(*argv, json=json)
        steps.append(Step(("--json", *argv) if json else argv, outcome, code))
        return outcome

    _inventory(run, files)
    _people(run, files)
    _plans(run, mode)
    _removals(run)
    return steps


@pytest.fixture(params=["local", "remote"])
def mode(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mode]:
    """Return the local or the remote mode over a new catalog."""
    with opened_mode(request.param, tmp_path, monkeypatch) as opened:
        yield opened


def test_every_catalog_command_gives_the_expected_exit_code_and_never_prints_a_secret(
    mode: Mode, tmp_path: Path
) -> None:
    steps = scenario(mode, tmp_path)

    for step in steps:
        assert step.outcome.exit_code == step.expected, (step.argv, step.outcome.stderr)
        text = step.outcome.stdout + step.outcome.stderr
        assert "Traceback" not in text
        assert PASSPHRASE not in text and PASSWORD not in text
        if mode.token:
            assert mode.token not in text
        if step.expected:
            assert '"message_type": "error"' in step.outcome.stderr or "error:" in step.outcome.stderr


def test_each_command_shows_what_it_changed(mode: Mode, tmp_path: Path) -> None:
    ran = scenario(mode, tmp_path)
    steps = {" ".join(step.argv): step.outcome for step in reversed(ran)}  # the first of each

    assert steps["--json client show nope"].stderr.count("nope") == 1
    shown_client = steps["client show web"].stdout
    assert "port: 2222" in shown_client and "notes: rack 4" in shown_client
    assert "passphrase: set" in steps["repository show main"].stdout
    assert steps["--json user show ana"].json()["roles"] == ["auditor"]
    assert steps["--json user show ana"].json()["active"] is False
    assert "transport" in steps["--json client add odd --address x --transport pigeon"].stderr
    [job] = steps["--json job list"].json()
    assert (job["client"], job["repository"], job["category"]) == ("here", "main", "databases")
    assert job["run_now_requested_at"] is not None
    assert "requested" in steps["job run docs"].stdout
    assert steps["--json run list"].json()[0]["trigger"] == "manual"
    [cancelled, again] = [step.outcome for step in ran if step.argv[1:3] == ("run", "cancel")]
    assert cancelled.json()["state"] == "cancelled" and "not queued" in again.stderr
    [failure] = steps["--json failure list"].json()
    assert failure["error"] == "disk full" and failure["closed_at"] is None
    assert [user["username"] for user in steps["--json user list"].json()] == ["admin"]
    thresholds = steps["--json job edit docs --size-change-percent 20 --unchanged-dump-days 0"].json()
    assert (thresholds["size_change_percent"], thresholds["unchanged_dump_days"]) == (20, 0)
    shown_jobs = [step.outcome.stdout for step in ran if step.argv == ("job", "show", "docs")]
    assert "size_change_percent: the category's" in shown_jobs[0]
    assert "size_change_percent: 20" in shown_jobs[-1]
    assert "--file-count-change-percent" in steps["--json job edit docs --file-count-change-percent 0"].stderr
    assert steps["--json job edit docs --category-thresholds"].json()["size_change_percent"] is None
    [warned_show] = [step.outcome for step in ran if step.argv[:2] == ("run", "show")][-1:]
    assert "verification: warnings" in warned_show.stdout and f"  - {WARNING}" in warned_show.stdout
    [warned_json] = [
        step.outcome for step in ran if step.argv[1:3] == ("run", "show") and step.outcome.exit_code == 0
    ][-1:]
    assert warned_json.json()["verification_reasons"][0]["message"] == WARNING
    listed = [step.outcome.stdout for step in ran if step.argv == ("run", "list", "--job", "docs")][-1]
    assert f"{warned_show.stdout.split()[1]}  job 1  succeeded  warnings" in listed
    with mode.sessions() as session:
        actions = {entry.action for entry in queries.list_audit(session, limit=500).items}
    assert {"client.create", "repository.update", "user.delete", "job.run_now", "run.cancel"} <= actions


def test_both_modes_print_the_same_output_and_exit_with_the_same_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = {}
    for name in ("local", "remote"):
        with pytest.MonkeyPatch.context() as patch, opened_mode(name, tmp_path / name, patch) as opened:
            results[name] = [step.normalized() for step in scenario(opened, tmp_path)]

    assert len(results["local"]) == len(results["remote"]) > 40
    for local, remote in zip(results["local"], results["remote"], strict=True):
        assert local[:2] == remote[:2], (local, remote)
        assert local[2] == remote[2], f"{local[0]} printed differently:\n{local[2]}\n----\n{remote[2]}"
