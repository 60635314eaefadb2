"""The console's verification settings in-process: a repository's scrub schedule and period, a job's
restore-test schedule and sample size, and the restore-test servers (password write-only), each saved
with the API's checks and audit, operators only, in Spanish and English."""

from __future__ import annotations

from resguardo.catalog import queries
from resguardo.catalog.enums import Language, Role, Transport
from resguardo.catalog.models import Job, Repository
from tests.api.conftest import NOW
from tests.web.conftest import Console, csrf_of

SERVER_PASSWORD = "scratch-console-password-4410"


def _job(console: Console) -> tuple[int, int]:
    with console.sessions() as session:
        client = queries.create_client(session, name="s-host", transport=Transport.LOCAL, now=NOW)
        repository = queries.create_repository(
            session, console.secret_key, name="s-repo", url="/srv/s", now=NOW
        )
        job = queries.create_job(
            session,
            name="s-job",
            client_id=client.id,
            repository_id=repository.id,
            category_id=queries.find_category(session, "databases").id,
            now=NOW,
        )
        session.commit()
        return repository.id, job.id


def _actions(console: Console) -> set[tuple[str, str]]:
    with console.sessions() as session:
        return {(entry.action, entry.actor_name) for entry in queries.list_audit(session, limit=100).items}


def test_an_operator_changes_a_repositorys_scrubs_in_spanish_and_sees_them_in_words(console: Console) -> None:
    repository_id, _job_id = _job(console)
    console.user("olga", [Role.OPERATOR])
    console.user("aldo", [Role.AUDITOR])
    operator, auditor = console.browser("olga"), console.browser("aldo")
    page = operator.get(f"/repositories/{repository_id}/verification")
    url, csrf = f"/repositories/{repository_id}/verification", csrf_of(page.text)

    saved = operator.post(
        url, data={"csrf_token": csrf, "schedule": "daily at 02:30", "scrub_period_days": "7"}
    )
    bad = operator.post(
        url, data={"csrf_token": csrf, "schedule": "daily at 25:00", "scrub_period_days": "7"}
    )
    zero = operator.post(
        url, data={"csrf_token": csrf, "schedule": "daily at 02:30", "scrub_period_days": "0"}
    )
    refused = auditor.post(
        url, data={"csrf_token": csrf_of(auditor.get("/").text), "schedule": "daily at 01:00"}
    )

    assert "Cambiar las revisiones (scrub)" in page.text and 'value="weekly on sunday at 03:00"' in page.text
    assert saved.status_code == 303 and saved.headers["location"] == url
    shown = operator.get(url).text
    assert "diario a las 02:30" in shown and "7 días" in shown and 'value="daily at 02:30"' in shown
    assert bad.status_code == 422 and "No se puede leer esta programación:" in bad.text
    assert zero.status_code == 422 and "Este número es demasiado pequeño." in zero.text
    assert refused.status_code == 403
    assert "Cambiar las revisiones" not in auditor.get(url).text
    with console.sessions() as session:
        repository = session.get(Repository, repository_id)
        assert repository is not None and repository.scrub_period_days == 7
        assert repository.verification_schedule["at"] == "02:30"
    assert ("repository.verification", "olga") in _actions(console)


def test_an_operator_changes_a_jobs_restore_tests_in_english(console: Console) -> None:
    _repository_id, job_id = _job(console)
    console.user("oliver", [Role.OPERATOR], Language.ENGLISH)
    browser = console.browser("oliver")
    url = f"/jobs/{job_id}/verification"
    csrf = csrf_of(browser.get(url).text)

    saved = browser.post(
        url, data={"csrf_token": csrf, "schedule": "weekly on saturday at 05:00", "sample_files": "250"}
    )
    empty = browser.post(url, data={"csrf_token": csrf, "schedule": " ", "sample_files": "250"})

    assert saved.status_code == 303
    shown = browser.get(url).text
    assert "weekly on Saturday at 05:00" in shown and "250" in shown
    assert empty.status_code == 422 and "This field is required." in empty.text
    with console.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.restore_test_sample_files == 250
    assert ("job.restore_test", "oliver") in _actions(console)


def test_an_operator_sets_and_removes_a_restore_test_server_whose_password_is_never_shown(
    console: Console,
) -> None:
    console.user("olga", [Role.OPERATOR])
    console.user("aldo", [Role.AUDITOR])
    operator = console.browser("olga")
    page = operator.get("/verification-servers")
    csrf = csrf_of(page.text)
    url = "postgresql://tester@127.0.0.1:5432/"

    saved = operator.post(
        "/verification-servers/postgresql", data={"csrf_token": csrf, "url": url, "password": SERVER_PASSWORD}
    )
    kept = operator.post(
        "/verification-servers/postgresql", data={"csrf_token": csrf, "url": url, "password": ""}
    )
    in_url = operator.post(
        "/verification-servers/mysql", data={"csrf_token": csrf, "url": "mysql://root:hunter2@db/"}
    )
    listed = operator.get("/verification-servers")

    assert page.status_code == 200 and "Servidores de pruebas de restauración" in page.text
    assert saved.status_code == 303 and kept.status_code == 303
    assert in_url.status_code == 422 and "hunter2" not in in_url.text
    assert url in listed.text and "MySQL / MariaDB" in listed.text
    for text in (page.text, listed.text, in_url.text):
        assert SERVER_PASSWORD not in text
    with console.sessions() as session:
        assert queries.restore_test_server(session, console.secret_key, "postgresql") == (
            url,
            SERVER_PASSWORD,
        )
    removed = operator.post("/verification-servers/postgresql/remove", data={"csrf_token": csrf})
    assert removed.status_code == 303
    assert url not in operator.get("/verification-servers").text
    assert console.browser("aldo").get("/verification-servers").status_code == 403
    actions = _actions(console)
    assert ("verification_server.set", "olga") in actions and (
        "verification_server.remove",
        "olga",
    ) in actions
