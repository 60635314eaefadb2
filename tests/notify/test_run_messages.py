"""The messages about runs, through a real worker and a real SMTP server (SQLite and PostgreSQL): a
failed run mails the operators and administrators once, in their language, with a link to the run; the
flood limit holds and counts what it held back; a job that works again says so."""

from __future__ import annotations

from pathlib import Path

from resguardo.catalog.queries import claim_next_run, update_notification_settings
from resguardo.jobs.scheduling_loop import schedule_pass
from resguardo.notify import Sender
from resguardo.services import request_run_now
from tests.fixtures.service import Service
from tests.fixtures.smtp import SmtpFactory, SmtpTestServer
from tests.notify.helpers import add_people, configure, outbox


def _run_now(service: Service, job_id: int) -> int:
    """Ask for a run of the job, let a worker run it, and send the e-mails due; return the run's ID."""
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())
    [(run_id, _state)] = service.worker().run_until_idle()
    Sender(service.sessions, service.secret_key, clock=service.clock).send_due()
    return run_id


def _ready(service: Service, smtp_server: SmtpFactory, **settings: object) -> SmtpTestServer:
    server = smtp_server("starttls")
    configure(service.sessions, service.secret_key, server, **settings)
    add_people(service.sessions)
    return server


def test_a_failed_run_mails_each_operator_and_administrator_once_in_their_language(
    service: Service, smtp_server: SmtpFactory, tmp_path: Path
) -> None:
    server = _ready(service, smtp_server)
    job_id = service.job("payroll", [tmp_path / "missing"], max_retries=0)

    run_id = _run_now(service, job_id)

    by_recipient = {received.recipients[0]: received for received in server.received}
    assert sorted(by_recipient) == ["ana@example.org", "bob@example.org"]  # not carla, dario, elena
    assert len(server.received) == 2
    spanish, english = by_recipient["ana@example.org"], by_recipient["bob@example.org"]
    assert spanish.subject == "[Resguardo] Falló el respaldo: payroll (here)"
    assert 'Falló el trabajo de respaldo "payroll" del cliente "here"' in spanish.body
    assert str(tmp_path / "missing") in spanish.body
    assert f"https://backups.example.org/runs/{run_id}" in spanish.body
    assert english.subject == "[Resguardo] Backup failed: payroll (here)"
    assert f"Run:        {run_id} (attempt 1)" in english.body
    assert f"See the run: https://backups.example.org/runs/{run_id}" in english.body
    assert all(message.run_id == run_id and message.job_id == job_id for message in outbox(service.sessions))


def test_failures_within_the_window_queue_nothing_and_the_next_message_counts_them(
    service: Service, smtp_server: SmtpFactory, tmp_path: Path
) -> None:
    server = _ready(service, smtp_server, failure_window_hours=6)
    job_id = service.job("payroll", [tmp_path / "missing"], max_retries=0)

    _run_now(service, job_id)
    service.clock.advance(3600)
    _run_now(service, job_id)
    service.clock.advance(3600)
    _run_now(service, job_id)
    held_back = [received.recipients[0] for received in server.received]
    service.clock.advance(5 * 3600)
    _run_now(service, job_id)

    assert sorted(held_back) == ["ana@example.org", "bob@example.org"]
    later = [received for received in server.received[2:] if received.recipients == ["bob@example.org"]]
    assert len(server.received) == 4 and len(later) == 1
    assert "2 more failure(s) of this job happened since the last message" in later[0].body
    assert "every 6 hour(s)" in later[0].body


def test_a_retried_failure_is_one_message_and_says_the_run_will_be_tried_again(
    service: Service, smtp_server: SmtpFactory, tmp_path: Path
) -> None:
    server = _ready(service, smtp_server)
    job_id = service.job("payroll", [tmp_path / "missing"], max_retries=2, retry_backoff_seconds=60)

    _run_now(service, job_id)
    service.clock.advance(600)
    service.worker().run_until_idle()  # the retries fail too
    service.clock.advance(600)
    service.worker().run_until_idle()
    Sender(service.sessions, service.secret_key, clock=service.clock).send_due()

    english = [received for received in server.received if received.recipients == ["bob@example.org"]]
    assert len(english) == 1
    assert "The run will be tried again automatically." in english[0].body


def test_the_next_success_after_a_failure_says_the_job_works_again(
    service: Service, smtp_server: SmtpFactory, tmp_path: Path
) -> None:
    server = _ready(service, smtp_server)
    tree = tmp_path / "later"
    job_id = service.job("payroll", [tree], max_retries=0)
    _run_now(service, job_id)
    tree.mkdir()
    (tree / "data.txt").write_text("now it is here\n")

    service.clock.advance(60)
    _run_now(service, job_id)
    service.clock.advance(60)
    _run_now(service, job_id)  # a second success says nothing more

    subjects = sorted(received.subject for received in server.received)
    assert subjects == [
        "[Resguardo] Backup failed: payroll (here)",
        "[Resguardo] Backup working again: payroll (here)",
        "[Resguardo] El respaldo vuelve a funcionar: payroll (here)",
        "[Resguardo] Falló el respaldo: payroll (here)",
    ]


def test_no_recovery_message_when_the_setting_is_off(
    service: Service, smtp_server: SmtpFactory, tmp_path: Path
) -> None:
    server = _ready(service, smtp_server)
    with service.sessions() as session:
        update_notification_settings(session, None, {"notify_recovery": False}, service.clock.now())
        session.commit()
    tree = tmp_path / "later"
    job_id = service.job("payroll", [tree], max_retries=0)
    _run_now(service, job_id)
    tree.mkdir()

    _run_now(service, job_id)

    assert all("failed" in received.subject or "Falló" in received.subject for received in server.received)


def test_a_run_failed_as_stale_by_the_sweep_mails_the_operators(
    service: Service, smtp_server: SmtpFactory, tmp_path: Path
) -> None:
    server = _ready(service, smtp_server)
    job_id = service.job("payroll", [tmp_path], max_retries=0)
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())
    with service.sessions() as session:
        claimed = claim_next_run(session, "died", service.clock.now())
        assert claimed is not None
    service.clock.advance(3600)

    swept = service.worker().sweep()
    Sender(service.sessions, service.secret_key, clock=service.clock).send_due()

    assert swept == [claimed.id]
    english = [received for received in server.received if received.recipients == ["bob@example.org"]]
    assert len(english) == 1 and "worker died stopped reporting" in english[0].body
