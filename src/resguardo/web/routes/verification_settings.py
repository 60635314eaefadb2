"""Verification settings in the console: a repository's scrub schedule and period, a job's restore-test
schedule and sample size (forms on their verification pages), and the restore-test servers.

Each form is checked by the API's input model and saved by the API's endpoint function (the same
permission, checks and audit); a schedule is written in the text form (docs/scheduling.md). A server's
password is write-only: never shown; an empty password field keeps the stored one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from resguardo.api.auth import CatalogSession, Principal
from resguardo.api.routes import verifications as api
from resguardo.api.routes._common import DATABASE_INTEGER_MAX
from resguardo.catalog.queries import list_restore_test_servers, restore_test_server
from resguardo.catalog.queries.verification_plans import RESTORE_TEST_SERVER_KINDS
from resguardo.core.errors import ConfigurationError, NotFound
from resguardo.jobs.verification_documents import server_json
from resguardo.web.forms import FormInvalid, FormState, checked, optional_int, submit
from resguardo.web.i18n import gettext, using_language
from resguardo.web.pages import Fields, language_of, page, render, see_other
from resguardo.web.routes.verifications import job_context, repository_context
from resguardo.web.schedules import schedule_from_form

router = APIRouter(include_in_schema=False)
RecordId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
ServerKind = Annotated[str, Path(pattern="^(postgresql|mysql)$")]
SUBJECT_TEMPLATE = "verification_subject.html"
SERVERS_TEMPLATE = "verification_servers.html"


def _schedule(text: str) -> dict[str, Any]:
    """Return the schedule document of the form's text.

    Raises:
        FormInvalid: the text is empty or cannot be read (the error is shown next to the field).
    """
    if not text.strip():
        raise FormInvalid({"schedule": gettext("This field is required.")})
    try:
        return schedule_from_form(text, "", "")
    except ConfigurationError as error:
        raise FormInvalid(
            {"schedule": f"{gettext('This schedule cannot be read:')} {error.message}"}
        ) from None


@router.post("/repositories/{repository_id}/verification")
def repository_verification_save(
    repository_id: RecordId,
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("repositories.write")],
) -> Response:
    """Change a repository's scrub schedule and period as ``PATCH .../verification`` does."""
    values = {name: fields.get(name, "") for name in ("schedule", "scrub_period_days")}
    context = repository_context(session, request, repository_id, FormState(values))

    def save() -> str:
        period = optional_int(values["scrub_period_days"])
        schedule = _schedule(values["schedule"])
        body = checked(api.RepositoryVerification, {"schedule": schedule, "scrub_period_days": period})
        api.repository_verification_update(repository_id, body, request, session, principal)
        return f"/repositories/{repository_id}/verification"

    with using_language(language_of(request, principal)):  # the form's errors in the page's language
        return submit(request, session, principal, SUBJECT_TEMPLATE, context, save)


@router.post("/jobs/{job_id}/verification")
def job_restore_test_save(
    job_id: RecordId,
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("jobs.write")],
) -> Response:
    """Change a job's restore-test schedule and sample size as ``PATCH .../restore-test`` does."""
    values = {name: fields.get(name, "") for name in ("schedule", "sample_files")}
    context = job_context(session, request, job_id, FormState(values))

    def save() -> str:
        sample = optional_int(values["sample_files"])
        schedule = _schedule(values["schedule"])
        body = checked(api.JobRestoreTest, {"schedule": schedule, "sample_files": sample})
        api.job_restore_test_update(job_id, body, request, session, principal)
        return f"/jobs/{job_id}/verification"

    with using_language(language_of(request, principal)):  # the form's errors in the page's language
        return submit(request, session, principal, SUBJECT_TEMPLATE, context, save)


def _servers_context(session: CatalogSession, forms: dict[str, FormState] | None = None) -> dict[str, Any]:
    servers = {record.kind: server_json(record) for record in list_restore_test_servers(session)}
    forms = forms or {}
    return {
        "kinds": RESTORE_TEST_SERVER_KINDS,
        "servers": servers,
        "forms": {
            kind: forms.get(kind) or FormState({"url": servers.get(kind, {}).get("url", "")})
            for kind in RESTORE_TEST_SERVER_KINDS
        },
        "form": FormState(),
    }


@router.get("/verification-servers")
def verification_servers_page(
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("verifications.configure")],
) -> HTMLResponse:
    """Show the restore-test servers with a form per kind (never a password)."""
    return render(request, SERVERS_TEMPLATE, _servers_context(session), principal)


@router.post("/verification-servers/{kind}")
def verification_server_save(
    kind: ServerKind,
    request: Request,
    session: CatalogSession,
    fields: Fields,
    principal: Annotated[Principal, page("verifications.configure")],
) -> Response:
    """Set the restore-test server of ``kind`` as ``PUT /api/v1/verification-servers/{kind}`` does; an
    empty password keeps the stored one."""
    state = FormState({"url": _without_password(fields.get("url", ""))})  # shown again: never a password
    context = _servers_context(session, {kind: state})
    context["form"] = state

    def save() -> str:
        password = fields.get("password", "")
        if not password:
            password = _stored_password(request, session, kind)
        body = checked(api.TestServer, {"url": fields.get("url", "").strip(), "password": password})
        api.verification_servers_set(kind, body, request, session, principal)  # type: ignore[arg-type]
        return "/verification-servers"

    with using_language(language_of(request, principal)):
        return submit(request, session, principal, SERVERS_TEMPLATE, context, save)


def _without_password(url: str) -> str:
    """Return ``url`` without the password of its user part (``user:secret@host`` → ``user@host``)."""
    scheme, separator, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    user, _at, host = authority.rpartition("@")
    return f"{scheme}{separator}{user.partition(':')[0]}@{host}{slash}{path}"


def _stored_password(request: Request, session: CatalogSession, kind: str) -> str:
    """Return the stored password of the ``kind`` server (empty when none is set)."""
    try:
        return restore_test_server(session, request.app.state.context.secret_key, kind)[1]
    except NotFound:
        return ""


@router.post("/verification-servers/{kind}/remove")
def verification_server_remove(
    kind: ServerKind,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, page("verifications.configure")],
) -> RedirectResponse:
    """Remove the restore-test server of ``kind`` as ``DELETE /api/v1/verification-servers/{kind}`` does."""
    api.verification_servers_remove(kind, request, session, principal)  # type: ignore[arg-type]
    return see_other("/verification-servers")
