"""``job add|edit --schedule`` take the text form ("every 60 days at 02:00") as well as JSON."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from resguardo.catalog import queries, session_factory
from tests.catalog.conftest import catalog_url, engine, postgres_template, secret_key, sqlite_template
from tests.cli.test_catalog_commands import Cli, _assert_ok, _job_setup, cli

__all__ = ["catalog_url", "cli", "engine", "postgres_template", "secret_key", "sqlite_template"]
ADD = ["job", "add", "docs", "--client", "here", "--repository", "main", "--category", "documents"]


def _stored_schedule(engine: Engine) -> tuple[dict[str, object], str]:
    """Return the stored schedule of the job 'docs' and the date (UTC) it was created."""
    with session_factory(engine)() as session:
        job = queries.find_job(session, "docs")
        return dict(job.schedule), job.created_at.date().isoformat()


def test_job_add_reads_the_text_form_and_stores_the_one_form(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    _job_setup(cli, tmp_path)
    added = cli(*ADD, "--path", "/srv", "--schedule", "every 60 days at 02:00 window 22:00-06:00")
    _assert_ok(added)
    schedule, created = _stored_schedule(engine)
    assert schedule == {
        "kind": "interval",
        "every": 60,
        "unit": "days",
        "start": created,  # counted from the day the job was added
        "at": "02:00",
        "timezone": "UTC",
        "window": {"start": "22:00", "end": "06:00"},
    }
    assert added.json()["schedule"] == schedule


def test_job_edit_reads_a_monthly_rule_on_several_days(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    _job_setup(cli, tmp_path)
    _assert_ok(cli(*ADD, "--path", "/srv"))
    _assert_ok(cli("job", "edit", "docs", "--schedule", "monthly on days 1 and 15 at 01:00 in America/Lima"))
    schedule, _ = _stored_schedule(engine)
    assert schedule == {
        "kind": "monthly",
        "days": [1, 15],
        "at": "01:00",
        "timezone": "America/Lima",
        "window": None,
    }


def test_an_impossible_schedule_text_is_refused_with_the_field_and_a_hint(cli: Cli, tmp_path: Path) -> None:
    _job_setup(cli, tmp_path)
    cases = {
        "every 0 days": "schedule field 'every'",
        "daily at 25:00": "schedule field 'at'",
        "daily at 01:00 in Mars/Base": "schedule field 'timezone'",
        "daily at 01:00 window 22:00-22:00": "schedule field 'window.end'",
        '{"kind": "daily", "at": "01:00", "colour": "red"}': "schedule field 'colour'",
        '{"kind": "daily", "at": ': "not valid JSON",
    }
    for argument, says in cases.items():
        outcome = cli(*ADD, "--path", "/srv", "--schedule", argument)
        assert outcome.exit_code == 2, argument
        assert says in outcome.stderr, outcome.stderr
        assert "Traceback" not in outcome.stdout + outcome.stderr
