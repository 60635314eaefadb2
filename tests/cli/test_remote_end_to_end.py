"""End to end through a server: the catalog set up and "run now" asked with the remote CLI, a worker
(``resguardo worker --once`` as a real process on the server's catalog) runs the backup, and the remote
``run show`` says it succeeded."""

from __future__ import annotations

from pathlib import Path

import pytest

from resguardo.catalog.enums import Role
from tests.cli.catalog_modes import isolate, write_token_file
from tests.cli.conftest import invoke, run_subprocess
from tests.fixtures.api_server import running_server
from tests.fixtures.service import make_tree

PASSPHRASE = "end to end passphrase 77"
JOB_OPTIONS = ("--client", "here", "--repository", "main", "--category", "databases")
DAILY = '{"kind": "daily", "at": "01:00"}'


def test_job_run_remotely_is_run_by_a_worker_and_shown_succeeded_remotely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate(monkeypatch, tmp_path)
    tree = make_tree(tmp_path / "tree")
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    with running_server(tmp_path / "server") as server:
        token_file = write_token_file(tmp_path / "token", server.user("operator", [Role.OPERATOR]))
        remote = ["--server", server.url, "--token-file", str(token_file)]
        setup = [
            invoke([*remote, "client", "add", "here", "--transport", "local"]),
            invoke(
                [
                    *remote,
                    "repository",
                    "add",
                    "main",
                    "--url",
                    str(tmp_path / "repo"),
                    "--password-file",
                    str(secret),
                ]
            ),
            invoke([*remote, "job", "add", "docs", *JOB_OPTIONS, "--path", str(tree), "--schedule", DAILY]),
        ]
        requested = invoke([*remote, "job", "run", "docs"])
        worked = run_subprocess(
            [
                "--json",
                "worker",
                "--once",
                "--database-url",
                server.database_url,
                "--data-dir",
                str(server.data_dir),
            ]
        )
        [run] = invoke([*remote, "--json", "run", "list", "--job", "docs"]).json()
        shown = invoke([*remote, "--json", "run", "show", str(run["id"])])
        shown_text = invoke([*remote, "run", "show", str(run["id"])])

    for outcome in (*setup, requested, shown, shown_text):
        assert outcome.exit_code == 0, outcome.stderr
    assert "run of job 'docs' requested" in requested.stdout
    assert worked.exit_code == 0, worked.stderr
    assert [done["state"] for done in worked.json()["runs"]] == ["succeeded"]
    assert shown.json()["state"] == "succeeded" and shown.json()["trigger"] == "manual"
    assert shown.json()["files"] == 3 and shown.json()["snapshot_id"]
    assert "state: succeeded" in shown_text.stdout
    for outcome in (*setup, requested, worked, shown, shown_text):
        assert PASSPHRASE not in outcome.stdout + outcome.stderr
