"""How failures reach a person: one line and a hint, the right exit code, JSON with --json, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resguardo import __version__
from resguardo.core.errors import EXIT_INTERRUPTED, EXIT_REPOSITORY_NOT_FOUND, EXIT_USAGE
from resguardo.engine import snapshot as snapshot_module
from tests.cli.conftest import Repo, invoke


def test_an_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    outcome = invoke(["--repo", str(tmp_path), "bogus"])
    assert outcome.exit_code == EXIT_USAGE
    assert outcome.stderr.splitlines() == ["error: No such command 'bogus'.", "hint: see 'resguardo --help'"]


def test_an_unknown_option_names_the_command_to_ask_for_help() -> None:
    outcome = invoke(["snapshots", "--colour"])
    assert outcome.exit_code == EXIT_USAGE
    assert outcome.stderr.splitlines() == [
        "error: No such option: --colour",
        "hint: see 'resguardo snapshots --help'",
    ]


def test_usage_errors_are_json_with_json() -> None:
    outcome = invoke(["--json", "snapshots", "--colour"])
    assert outcome.exit_code == EXIT_USAGE
    assert json.loads(outcome.stderr) == {
        "message_type": "error",
        "code": EXIT_USAGE,
        "message": "No such option: --colour",
        "hint": "see 'resguardo snapshots --help'",
    }
    assert outcome.stdout == ""


def test_engine_errors_are_json_with_json(tmp_path: Path) -> None:
    outcome = invoke(["--json", "--repo", str(tmp_path / "none"), "snapshots"])
    assert outcome.exit_code == EXIT_REPOSITORY_NOT_FOUND
    document = json.loads(outcome.stderr)
    assert document["message_type"] == "error"
    assert document["code"] == EXIT_REPOSITORY_NOT_FOUND
    assert document["message"].startswith("there is no repository at")
    assert document["hint"]


def test_help_and_version() -> None:
    help_outcome = invoke(["--help"])
    assert help_outcome.exit_code == 0
    for command in (
        "init",
        "backup",
        "snapshots",
        "ls",
        "diff",
        "stats",
        "dump",
        "restore",
        "check",
        "key",
        "unlock",
    ):
        assert f"  {command} " in help_outcome.stdout
    assert invoke(["--version"]).stdout == f"resguardo {__version__}\n"
    no_arguments = invoke([])
    assert no_arguments.exit_code == EXIT_USAGE
    assert no_arguments.stdout.startswith("Usage: resguardo")


def _break_listing(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def broken(*_arguments: object, **_keywords: object) -> None:
        raise error

    monkeypatch.setattr(snapshot_module, "list_snapshots", broken)


def test_an_unexpected_error_is_one_line_asking_for_a_report(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_listing(monkeypatch, RuntimeError("something impossible\nsecond line"))
    outcome = repo("snapshots")
    assert outcome.exit_code == 1
    assert outcome.stderr.splitlines() == [
        "error: unexpected error: RuntimeError: something impossible",
        "hint: this is a bug: please report it with the output of the same command run with "
        "RESGUARDO_DEBUG=1",
    ]


@pytest.mark.parametrize("how", ["--verbose", "RESGUARDO_DEBUG"])
def test_the_traceback_of_an_unexpected_error_shows_when_asked(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    _break_listing(monkeypatch, RuntimeError("something impossible"))
    if how == "RESGUARDO_DEBUG":
        monkeypatch.setenv("RESGUARDO_DEBUG", "1")
        outcome = repo("snapshots")
    else:
        outcome = repo("--verbose", "snapshots")
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("Traceback (most recent call last):")
    assert "error: unexpected error: RuntimeError: something impossible" in outcome.stderr


def test_an_interruption_exits_130(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    _break_listing(monkeypatch, KeyboardInterrupt())
    outcome = repo("snapshots")
    assert outcome.exit_code == EXIT_INTERRUPTED
    assert outcome.stderr == "error: interrupted\n"
