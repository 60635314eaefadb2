"""The console's pages in-process: login and language, forms checked and audited as the API does,
secrets never shown back, schedules from text, run now, a run's live fragment, the failure log."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from resguardo.catalog.enums import Language, Role, RunState, RunTrigger, SecretName, Transport
from resguardo.catalog.models import FailureEntry, Job
from resguardo.catalog.queries import (
    create_client,
    create_department,
    create_job,
    create_repository,
    enqueue_run,
    find_category,
    find_job,
    get_client,
    get_user,
    list_audit,
    list_clients,
    list_users,
    reveal_client_secret,
)
from tests.api.conftest import NOW
from tests.web.conftest import Console, csrf_of

SECRET = "a-passphrase-that-must-never-come-back"


def _job(console: Console, name: str = "nightly") -> int:
    with console.sessions() as session:
        client = create_client(session, name=f"{name}-host", transport=Transport.LOCAL, now=NOW)
        repository = create_repository(
            session, console.secret_key, name=f"{name}-repo", url="/srv/r", now=NOW
        )
        job = create_job(
            session,
            name=name,
            client_id=client.id,
            repository_id=repository.id,
            category_id=find_category(session, "databases").id,
            source={"kind": "paths", "paths": ["/srv/data"], "excludes": []},
            now=NOW,
        )
        session.commit()
        return job.id


def test_pages_send_the_visitor_to_login_and_back(console: Console) -> None:
    console.user("ana", [Role.OPERATOR])
    visitor = console.browser()

    answer = visitor.get("/jobs")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/jobs"
    login = visitor.post("/login", data={"username": "ana", "password": "x" * 30, "next": "/jobs"})
    assert login.status_code == 401 and "El usuario o la contraseña no son correctos." in login.text
    from tests.api.conftest import PASSWORD

    login = visitor.post("/login", data={"username": "ana", "password": PASSWORD, "next": "//evil.example"})
    assert login.status_code == 303 and login.headers["location"] == "/"


def test_login_page_follows_the_browser_language_else_spanish(console: Console) -> None:
    visitor = console.browser()

    english = visitor.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8,es;q=0.5"})
    spanish = visitor.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"})

    assert english.headers["content-language"] == "en" and ">Log in</h2>" in english.text
    assert spanish.headers["content-language"] == "es" and ">Iniciar sesión</h2>" in spanish.text


def test_the_users_language_wins_and_the_switch_saves_it_audited(console: Console) -> None:
    user_id = console.user("oliver", [Role.AUDITOR], language=Language.ENGLISH)
    browser = console.browser("oliver")

    page = browser.get("/audit", headers={"Accept-Language": "es"})
    assert "<h1>Audit log</h1>" in page.text
    switched = browser.post(
        "/language", data={"csrf_token": csrf_of(page.text), "language": "es", "next": "/audit"}
    )

    assert switched.status_code == 303 and switched.headers["location"] == "/audit"
    assert "<h1>Registro de auditoría</h1>" in browser.get("/audit").text
    with console.sessions() as session:
        assert get_user(session, user_id).language is Language.SPANISH
        [entry] = [item for item in list_audit(session).items if item.action == "user.update"]
        assert entry.before["language"] == "en" and entry.after["language"] == "es"  # type: ignore[index]


def test_a_form_without_its_csrf_token_changes_nothing(console: Console) -> None:
    console.user("ana", [Role.ADMINISTRATOR])
    browser = console.browser("ana")

    answer = browser.post("/clients/new", data={"name": "sneaky", "transport": "local"})

    assert answer.status_code == 403 and "El formulario caducó" in answer.text
    with console.sessions() as session:
        assert list_clients(session).total == 0


def test_client_form_is_checked_saved_and_audited_like_the_api(console: Console) -> None:
    console.user("ana", [Role.OPERATOR])
    browser = console.browser("ana")
    csrf = csrf_of(browser.get("/clients/new").text)

    bad = browser.post(
        "/clients/new", data={"csrf_token": csrf, "name": "db1", "transport": "ssh", "port": "70000"}
    )
    good = browser.post(
        "/clients/new", data={"csrf_token": csrf, "name": "db1", "transport": "ssh", "address": "db1.example"}
    )
    taken = browser.post(
        "/clients/new", data={"csrf_token": csrf, "name": "db1", "transport": "ssh", "address": "db1.example"}
    )

    assert bad.status_code == 422 and 'id="error-port"' in bad.text and "demasiado grande" in bad.text
    assert good.status_code == 303 and good.headers["location"] == "/clients"
    assert taken.status_code == 409 and "El cambio no se guardó" in taken.text
    assert "db1.example:22" in browser.get("/clients").text
    with console.sessions() as session:
        [entry] = [item for item in list_audit(session).items if item.action == "client.create"]
        assert entry.actor_name == "ana" and entry.after["name"] == "db1"  # type: ignore[index]


def test_repository_secrets_are_written_but_never_shown_back(console: Console) -> None:
    console.user("ana", [Role.OPERATOR])
    browser = console.browser("ana")
    csrf = csrf_of(browser.get("/repositories/new").text)

    made = browser.post(
        "/repositories/new",
        data={"csrf_token": csrf, "name": "vault", "url": "/srv/vault", SecretName.PASSPHRASE.value: SECRET},
    )
    listing = browser.get("/repositories").text
    with console.sessions() as session:
        from resguardo.catalog.queries import list_repositories

        repository = list_repositories(session).items[0]
        edit = browser.get(f"/repositories/{repository.id}/edit").text
        removed = browser.post(
            f"/repositories/{repository.id}/edit",
            data={"csrf_token": csrf, "name": "vault", "url": "/srv/vault", "remove_secret": "passphrase"},
        )
        audit_text = str([(item.before, item.after) for item in list_audit(session).items])

    assert made.status_code == 303 and removed.status_code == 303
    assert "passphrase" in listing and SECRET not in listing
    assert ">definido<" in edit and SECRET not in edit
    assert SECRET not in audit_text
    assert "passphrase" not in browser.get("/repositories").text


def test_job_form_turns_schedule_text_and_window_into_the_catalogs_schedule(console: Console) -> None:
    console.user("ana", [Role.OPERATOR])
    _job(console, "template")
    browser = console.browser("ana")
    with console.sessions() as session:
        template = find_job(session, "template")
        ids = {"client_id": template.client_id, "repository_id": template.repository_id}
        category_id = template.category_id
    fields = {
        "csrf_token": csrf_of(browser.get("/jobs/new").text),
        "name": "documents",
        "client_id": str(ids["client_id"]),
        "repository_id": str(ids["repository_id"]),
        "category_id": str(category_id),
        "paths": "/srv/documents\n/srv/mail\n",
        "max_retries": "2",
    }

    unreadable = browser.post("/jobs/new", data={**fields, "schedule": "whenever you like"})
    half_window = browser.post(
        "/jobs/new", data={**fields, "schedule": "daily at 01:00", "window_start": "22:00"}
    )
    made = browser.post(
        "/jobs/new",
        data={**fields, "schedule": "every 60 days at 02:00", "window_start": "22:00", "window_end": "06:00"},
    )

    assert unreadable.status_code == 422 and 'id="error-schedule"' in unreadable.text
    assert half_window.status_code == 422 and 'id="error-window_end"' in half_window.text
    assert made.status_code == 303
    with console.sessions() as session:
        job = find_job(session, "documents")
        assert job.schedule == {
            "kind": "interval",
            "every": 60,
            "unit": "days",
            "start": "2026-03-02",
            "at": "02:00",
            "timezone": "UTC",
            "window": {"start": "22:00", "end": "06:00"},
        }
        assert job.source["paths"] == ["/srv/documents", "/srv/mail"] and job.max_retries == 2
    page = browser.get(made.headers["location"]).text
    assert "cada 60 días a las 02:00" in page and "22:00\u201306:00" in page


def test_run_now_asks_the_scheduler_and_a_paused_job_is_refused(console: Console) -> None:
    console.user("olga", [Role.OPERATOR])
    job_id = _job(console)
    browser = console.browser("olga")
    csrf = csrf_of(browser.get(f"/jobs/{job_id}").text)

    asked = browser.post(f"/jobs/{job_id}/run", data={"csrf_token": csrf})
    page = browser.get(f"/jobs/{job_id}").text
    paused = browser.post(f"/jobs/{job_id}/pause", data={"csrf_token": csrf})
    refused = browser.post(f"/jobs/{job_id}/run", data={"csrf_token": csrf})

    assert asked.status_code == 303 and 'id="run-requested"' in page and 'hx-trigger="every 2s"' in page
    assert paused.status_code == 303 and refused.status_code == 409
    with console.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.paused and job.run_now_requested_at == NOW
        actions = [item.action for item in list_audit(session).items]
        assert "job.run_now" in actions and "job.update" in actions


def test_run_fragment_polls_while_running_and_stops_when_done(console: Console) -> None:
    console.user("carla", [Role.CUSTODIAN], language=Language.ENGLISH)
    job_id = _job(console)
    with console.sessions() as session:
        run = enqueue_run(session, job_id, trigger=RunTrigger.MANUAL, now=NOW)
        session.commit()
        run_id = run.id
    browser = console.browser("carla")

    queued = browser.get(f"/runs/{run_id}").text
    with console.sessions() as session:
        from resguardo.catalog.models import Run

        record = session.get(Run, run_id)
        assert record is not None
        record.state, record.finished_at, record.bytes_added = RunState.SUCCEEDED, NOW, 1_500_000
        record.log = "backed up 3 files"
        session.commit()
    done = browser.get(f"/runs/{run_id}/status").text

    assert f'hx-get="/runs/{run_id}/status" hx-trigger="every 2s"' in queued and ">Queued<" in queued
    assert "hx-trigger" not in done and ">Succeeded<" in done
    assert "backed up 3 files" in done and "1.5 MB" in done


def test_failure_analysis_is_signed_with_who_and_when(console: Console) -> None:
    console.user("olga", [Role.OPERATOR], language=Language.ENGLISH)
    job_id = _job(console)
    with console.sessions() as session:
        run = enqueue_run(session, job_id, trigger=RunTrigger.MANUAL, now=NOW)
        session.flush()
        entry = FailureEntry(job_id=job_id, run_id=run.id, opened_at=NOW, error="disk full")
        session.add(entry)
        session.commit()
        entry_id = entry.id
    browser = console.browser("olga")
    console.clock.advance(2 * 3600)

    saved = browser.post(
        f"/failures/{entry_id}",
        data={
            "csrf_token": csrf_of(browser.get(f"/failures/{entry_id}").text),
            "cause": "the disk filled up",
            "analysis": "old snapshots",
            "corrective_action": "pruned and added space",
        },
    )
    page = browser.get(f"/failures/{entry_id}").text

    assert saved.status_code == 303
    assert "olga" in page and "12:00:00" in page
    assert "pruned and added space" in browser.get("/failures").text


def test_an_administrator_puts_a_new_user_in_a_department(console: Console) -> None:
    with console.sessions() as session:
        area = create_department(session, name="Finanzas", now=NOW)
        session.commit()
        area_id = area.id
    console.user("root", [Role.ADMINISTRATOR])
    browser = console.browser("root")
    form = browser.get("/users/new").text
    assert "Finanzas" in form and "Departamento" in form

    made = browser.post(
        "/users/new",
        data={
            "csrf_token": csrf_of(form),
            "username": "luisa",
            "password": "a long enough password",
            "language": "es",
            "roles": "requester",
            "department_id": str(area_id),
        },
    )
    unknown = browser.post(
        "/users/new",
        data={
            "csrf_token": csrf_of(form),
            "username": "pedro",
            "password": "a long enough password",
            "language": "es",
            "department_id": "999999",
        },
    )

    assert made.status_code == 303, made.text
    with console.sessions() as session:
        [luisa] = [user for user in list_users(session).items if user.username == "luisa"]
        assert luisa.department_id == area_id
    assert unknown.status_code in (404, 409, 422)
    with console.sessions() as session:
        assert "pedro" not in [user.username for user in list_users(session).items]


def test_client_credentials_are_sealed_from_the_form_and_never_shown_back(console: Console) -> None:
    key_text = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key, only sealed\n-----END OPENSSH PRIVATE KEY-----"
    )
    public = Ed25519PrivateKey.generate().public_key()
    host_key = public.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    console.user("ana", [Role.OPERATOR])
    browser = console.browser("ana")
    csrf = csrf_of(browser.get("/clients/new").text)
    fields = {"csrf_token": csrf, "name": "db1", "transport": "ssh", "address": "db1.example", "port": "22"}

    made = browser.post(
        "/clients/new",
        data={
            **fields,
            "ssh_host_key": host_key,
            "database_url": "postgresql://backup@db1.example:5432",
            "ssh_private_key": key_text,
            "database_password": SECRET,
        },
    )
    with console.sessions() as session:
        assert made.status_code == 303, made.text[-3000:]
        client = list_clients(session).items[0]
        client_id, stored_host_key = client.id, client.ssh_host_key
        sealed = reveal_client_secret(session, console.secret_key, client.id, "ssh_private_key")
    edit = browser.get(f"/clients/{client_id}/edit").text
    removed = browser.post(
        f"/clients/{client_id}/edit", data={**fields, "remove_secret": "database_password"}
    )
    with console.sessions() as session:
        left = sorted(name.value for name in get_client(session, client_id).secret_names)
        audit_text = str([(item.before, item.after) for item in list_audit(session).items])

    assert made.status_code == 303 and removed.status_code == 303
    assert sealed == key_text and stored_host_key == host_key
    assert host_key in edit and ">definido<" in edit
    assert key_text not in edit and SECRET not in edit and "not a real key" not in edit
    assert left == ["ssh_private_key"]
    assert SECRET not in audit_text and "not a real key" not in audit_text


def test_job_form_makes_a_database_job_with_commands_and_editing_keeps_what_it_does_not_show(
    console: Console,
) -> None:
    console.user("ana", [Role.OPERATOR])
    with console.sessions() as session:
        client = create_client(
            session,
            name="db1",
            transport=Transport.LOCAL,
            database_url="postgresql://backup@db1.example:5432",
            now=NOW,
        )
        repository = create_repository(session, console.secret_key, name="vault", url="/srv/v", now=NOW)
        session.commit()
        ids = {"client_id": str(client.id), "repository_id": str(repository.id)}
        category_id = str(find_category(session, "databases").id)
    browser = console.browser("ana")
    fields = {
        "csrf_token": csrf_of(browser.get("/jobs/new").text),
        "name": "payroll",
        **ids,
        "category_id": category_id,
        "kind": "postgresql",
        "databases": "nomina\nrrhh\n",
        "commands.before": "systemctl stop payroll-sync",
        "commands.after": "systemctl start payroll-sync",
        "commands.timeout_seconds": "120",
        "max_retries": "1",
    }

    bad = browser.post("/jobs/new", data={**fields, "commands.timeout_seconds": "0"})
    made = browser.post("/jobs/new", data=fields)
    with console.sessions() as session:
        job = find_job(session, "payroll")
        stored = dict(job.source)
        job.source = {**stored, "url": "postgresql://backup@replica.example:5432"}
        session.commit()
        job_id = job.id
    form = browser.get(f"/jobs/{job_id}/edit").text
    edited = browser.post(f"/jobs/{job_id}/edit", data={**fields, "databases": "nomina\n"})

    assert bad.status_code == 422 and 'id="error-commands.timeout_seconds"' in bad.text
    assert made.status_code == 303, made.text[-2000:]
    assert stored == {
        "kind": "postgresql",
        "databases": ["nomina", "rrhh"],
        "commands": {
            "before": "systemctl stop payroll-sync",
            "after": "systemctl start payroll-sync",
            "timeout_seconds": 120,
        },
    }
    assert "systemctl stop payroll-sync" in form and "Bases de datos PostgreSQL" in form
    assert edited.status_code == 303
    with console.sessions() as session:
        source = find_job(session, "payroll").source
    assert source["databases"] == ["nomina"] and source["url"] == "postgresql://backup@replica.example:5432"


def test_job_form_overrides_verification_thresholds_names_a_bad_one_and_empty_follows_the_category(
    console: Console,
) -> None:
    console.user("ana", [Role.OPERATOR])
    _job(console, "template")
    browser = console.browser("ana")
    with console.sessions() as session:
        template = find_job(session, "template")
        job_id = template.id
        fields = {
            "name": "template",
            "client_id": str(template.client_id),
            "repository_id": str(template.repository_id),
            "category_id": str(template.category_id),
            "kind": "paths",
            "paths": "\n".join(template.source["paths"]),
            "max_retries": "3",
        }
    fields["csrf_token"] = csrf_of(browser.get(f"/jobs/{job_id}/edit").text)

    too_big = browser.post(f"/jobs/{job_id}/edit", data={**fields, "size_change_percent": "5000"})
    saved = browser.post(
        f"/jobs/{job_id}/edit", data={**fields, "size_change_percent": "15", "unchanged_dump_days": "0"}
    )
    with console.sessions() as session:
        job = find_job(session, "template")
        overridden = (job.size_change_percent, job.file_count_change_percent, job.unchanged_dump_days)
    shown = browser.get(f"/jobs/{job_id}/edit").text
    cleared = browser.post(f"/jobs/{job_id}/edit", data={**fields, "size_change_percent": ""})

    assert too_big.status_code == 422 and 'id="error-size_change_percent"' in too_big.text
    assert saved.status_code == 303 and overridden == (15, None, 0)
    assert 'name="size_change_percent"' in shown and 'value="15"' in shown
    assert cleared.status_code == 303
    with console.sessions() as session:
        assert find_job(session, "template").size_change_percent is None
