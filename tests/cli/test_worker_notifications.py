"""``resguardo worker --once`` as a real process sends the failure e-mail of the run it failed, once,
through a real SMTP server on 127.0.0.1 (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from resguardo.catalog import SecretKey, session_factory
from tests.catalog.conftest import catalog_url, engine, postgres_template, secret_key, sqlite_template
from tests.cli.conftest import run_subprocess
from tests.fixtures.service import Service
from tests.fixtures.smtp import SMTP_PASSWORD, SmtpFactory
from tests.notify.conftest import smtp_server
from tests.notify.helpers import add_people, configure, outbox

__all__ = ["catalog_url", "engine", "postgres_template", "secret_key", "smtp_server", "sqlite_template"]


def test_worker_once_fails_the_run_and_mails_each_operator_once(
    catalog_url: str, engine: Engine, secret_key: SecretKey, tmp_path: Path, smtp_server: SmtpFactory
) -> None:
    mail = smtp_server("starttls")
    service = Service(session_factory(engine), secret_key, tmp_path)
    configure(service.sessions, secret_key, mail)
    add_people(service.sessions)
    service.job("payroll", [tmp_path / "missing"], max_retries=0)
    options = ["--database-url", catalog_url, "--data-dir", str(tmp_path / "data")]
    environment = {"RESGUARDO_SECRET_KEY": secret_key.encoded()}

    run_subprocess(["job", "run", "payroll", *options], **environment)
    worked = run_subprocess(["--json", "worker", "--once", *options], **environment)
    again = run_subprocess(["--json", "worker", "--once", *options], **environment)

    assert worked.exit_code == 0, worked.stderr
    assert [run["state"] for run in worked.json()["runs"]] == ["failed"]
    assert again.exit_code == 0
    assert sorted(received.recipients[0] for received in mail.received) == [
        "ana@example.org",
        "bob@example.org",
    ]
    assert {message.state.value for message in outbox(service.sessions)} == {"sent"}
    assert SMTP_PASSWORD not in worked.stdout + worked.stderr
