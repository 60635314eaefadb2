"""``resguardo verify run|show|list`` on the catalog (local) and on a real server (remote)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from resguardo.catalog import load_secret_key, queries
from resguardo.clock import SYSTEM_CLOCK
from resguardo.engine.crypto import KdfParameters
from resguardo.jobs.scheduling_loop import schedule_pass
from resguardo.jobs.verification_worker import verify_until_idle
from resguardo.jobs.worker import Worker, WorkerSettings
from tests.cli.catalog_modes import Mode, opened_mode

PASSPHRASE = "sealed repository passphrase 42"
FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)


@pytest.fixture(params=["local", "remote"])
def mode(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mode]:
    """Return the local or the remote mode over a new catalog."""
    with opened_mode(request.param, tmp_path, monkeypatch) as opened:
        yield opened


def _worker(mode: Mode) -> Worker:
    settings = WorkerSettings(
        secret_key=load_secret_key(mode.data_dir), worker_id="test-worker", kdf=FAST_KDF
    )
    return Worker(mode.sessions, settings)


def _backed_up_job(mode: Mode, tmp_path: Path) -> None:
    """Add a local client, a repository and a job over a small tree, and back it up once."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("alpha\n" * 1000)
    (tree / "b.bin").write_bytes(bytes(range(256)) * 300)
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    job = ("--client", "here", "--repository", "main", "--category", "documents", "--path", str(tree))
    for argv in (
        ("client", "add", "here", "--transport", "local"),
        ("repository", "add", "main", "--url", str(tmp_path / "repo"), "--password-file", str(secret)),
        ("job", "add", "docs", *job),
        ("job", "run", "docs"),
    ):
        assert mode.cli(*argv).exit_code == 0
    schedule_pass(mode.sessions, SYSTEM_CLOCK.now())
    assert _worker(mode).run_until_idle()[0][1] is not None


def test_verify_run_show_and_list_in_both_modes(mode: Mode, tmp_path: Path) -> None:
    _backed_up_job(mode, tmp_path)

    queued = mode.cli("verify", "run", "--repository", "main")
    again = mode.cli("verify", "run", "--repository", "main")
    neither = mode.cli("verify", "run")
    plain = mode.cli("verify", "run", "--job", "docs", json=False)

    assert queued.exit_code == 0, queued.stderr
    assert queued.json()["kind"] == "scrub" and queued.json()["state"] == "queued"
    assert again.exit_code == 1 and "queued or running already" in again.stderr
    assert neither.exit_code == 2 and "either a repository" in neither.stderr
    assert plain.exit_code == 0 and "queued" in plain.stderr + plain.stdout
    worker = _worker(mode)
    done = verify_until_idle(worker.session_factory, worker.settings, worker.clock)
    assert len(done) == 2
    shown = mode.cli("verify", "show", str(queued.json()["id"]))
    assert shown.json()["state"] == "passed" and shown.json()["evidence"]["slice"]["packs"] >= 1
    listed = mode.cli("verify", "list", "--kind", "restore_test")
    assert [item["kind"] for item in listed.json()] == ["restore_test"]
    assert listed.json()[0]["state"] == "passed" and listed.json()[0]["files_restored"] == 2
    table = mode.cli("verify", "list", "--repository", "main", json=False)
    assert table.exit_code == 0 and len(table.stdout.splitlines()) == 2
    assert mode.cli("verify", "list", "--kind", "audit").exit_code == 2
    assert mode.cli("verify", "show", "999999").exit_code == 1
    assert mode.cli("verify", "list", "--job", "nope").exit_code == 1


def test_verify_run_wait_runs_the_test_on_the_catalog_and_gives_its_result(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with opened_mode("local", tmp_path, monkeypatch) as mode:
        _backed_up_job(mode, tmp_path)

        waited = mode.cli("verify", "run", "--job", "docs", "--wait")

        assert waited.exit_code == 0, waited.stderr
        assert waited.json()["state"] == "passed" and waited.json()["evidence"]["files_restored"] == 2
        with mode.sessions() as session:
            record = queries.get_verification(session, waited.json()["id"])
            assert record.worker_id is not None and record.worker_id.startswith("cli:")
