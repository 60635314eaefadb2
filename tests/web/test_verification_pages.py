"""The console's verification pages in-process: the register with filters and CSV export, a repository's
and a job's pages with "verify now" (audited, operators only), in Spanish and English."""

from __future__ import annotations

from resguardo.catalog.enums import Language, Role, Transport
from resguardo.catalog.queries import create_client, create_job, create_repository, find_category, list_audit
from tests.api.conftest import NOW
from tests.web.conftest import Console, csrf_of


def _job(console: Console) -> tuple[int, int]:
    with console.sessions() as session:
        client = create_client(session, name="v-host", transport=Transport.LOCAL, now=NOW)
        repository = create_repository(session, console.secret_key, name="v-repo", url="/srv/v", now=NOW)
        job = create_job(
            session,
            name="v-job",
            client_id=client.id,
            repository_id=repository.id,
            category_id=find_category(session, "databases").id,
            now=NOW,
        )
        session.commit()
        return repository.id, job.id


def test_an_operator_verifies_a_repository_now_and_an_auditor_reads_and_exports_the_register(
    console: Console,
) -> None:
    repository_id, job_id = _job(console)
    console.user("olga", [Role.OPERATOR])
    console.user("aldo", [Role.AUDITOR], Language.ENGLISH)
    operator, auditor = console.browser("olga"), console.browser("aldo")

    page = operator.get(f"/repositories/{repository_id}/verification")
    queued = operator.post(
        "/verifications/new", data={"csrf_token": csrf_of(page.text), "repository_id": str(repository_id)}
    )
    again = operator.post(
        "/verifications/new", data={"csrf_token": csrf_of(page.text), "repository_id": str(repository_id)}
    )
    refused = auditor.post(
        "/verifications/new", data={"csrf_token": csrf_of(auditor.get("/").text), "job_id": str(job_id)}
    )

    assert "Revisiones de v-repo" in page.text and "Verificar ahora" in page.text and "Próxima" in page.text
    assert queued.status_code == 303 and queued.headers["location"].startswith("/verifications/")
    assert again.status_code == 409
    assert refused.status_code == 403
    shown = auditor.get(queued.headers["location"])
    assert "Verification #" in shown.text and "olga (manual)" in shown.text
    register = auditor.get("/verifications", params={"kind": "scrub", "repository_id": repository_id})
    assert register.status_code == 200 and "Verification register" in register.text
    assert f"/api/v1/verifications.csv?kind=scrub&amp;repository_id={repository_id}" in register.text
    assert "Verify now" not in auditor.get(f"/jobs/{job_id}/verification").text  # auditors only read
    exported = auditor.get("/api/v1/verifications.csv", params={"kind": "scrub"})
    assert exported.status_code == 200 and exported.text.count("\n") == 2
    with console.sessions() as session:
        actions = {(entry.action, entry.actor_name) for entry in list_audit(session, limit=50).items}
    assert ("verification.request", "olga") in actions


def test_a_job_page_links_its_restore_tests_and_their_page_shows_the_schedule_and_sample(
    console: Console,
) -> None:
    _repository_id, job_id = _job(console)
    console.user("oliver", [Role.OPERATOR], Language.ENGLISH)
    browser = console.browser("oliver")

    job_page = browser.get(f"/jobs/{job_id}")
    tests_page = browser.get(f"/jobs/{job_id}/verification")

    assert f"/jobs/{job_id}/verification" in job_page.text
    assert "Restore tests of v-job" in tests_page.text and "monthly" in tests_page.text
    assert "1000" in tests_page.text and "No verification yet." in tests_page.text
