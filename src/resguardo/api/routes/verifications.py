"""Periodic verification: the register (list, show, CSV export), "verify now", the schedules of scrubs
and restore tests, and the database servers restore tests restore into."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from resguardo.api.auth import CatalogSession, Principal, allow
from resguardo.api.routes._common import (
    DATABASE_INTEGER_MAX,
    Identifier,
    IdFilter,
    Input,
    Limit,
    Offset,
    audit,
    checked_by,
    now_of,
    page_of,
)
from resguardo.catalog.enums import VerificationKind, VerificationState
from resguardo.catalog.queries import (
    VerificationFilter,
    get_job,
    get_repository,
    get_verification,
    list_restore_test_servers,
    list_verifications,
    remove_restore_test_server,
    set_job_restore_test,
    set_repository_verification,
    set_restore_test_server,
)
from resguardo.jobs.verification_documents import (
    job_restore_test_json,
    register_csv,
    repository_verification_json,
    server_json,
    verification_json,
)
from resguardo.schedules import checked_schedule_document
from resguardo.services.verification import verify_now
from resguardo.sources.addresses import parse_address

router = APIRouter(prefix="/api/v1", tags=["verification"])
VerificationId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
RecordId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]
Schedule = Annotated[dict[str, Any], checked_by(checked_schedule_document)]
ServerKind = Annotated[Literal["postgresql", "mysql"], Path()]
CSV_ROWS = 100_000


class VerifyNow(Input):
    """What to verify now: a repository (a scrub) or a job (a restore test), one of the two."""

    repository_id: Identifier | None = None
    job_id: Identifier | None = None


class RepositoryVerification(Input):
    """A repository's scrub schedule and the days in which every pack is read once."""

    schedule: Schedule | None = None
    scrub_period_days: Annotated[int, Field(ge=1, le=3660)] | None = None


class JobRestoreTest(Input):
    """A job's restore-test schedule and how many files a large snapshot's test restores."""

    schedule: Schedule | None = None
    sample_files: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class TestServer(Input):
    """A database server for restore tests: its URL (no password in it) and its password."""

    url: Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^\x00]*$")]
    password: Annotated[str, Field(max_length=1024, pattern=r"^[^\x00]*$")] = ""


def _filter(  # noqa: PLR0917 (each filter is a query parameter)
    kind: VerificationKind | None,
    repository_id: int | None,
    job_id: int | None,
    state: VerificationState | None,
    since: datetime | None,
    until: datetime | None,
) -> VerificationFilter:
    """Return the register's filter; a moment given without a time zone is taken as UTC."""
    since, until = (_utc(moment) for moment in (since, until))
    return VerificationFilter(kind, repository_id, job_id, state, since, until)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@router.get("/verifications")
def verifications_list(  # noqa: PLR0917 (each filter is a query parameter)
    session: CatalogSession,
    principal: Annotated[Principal, allow("verifications.read")],
    limit: Limit = 50,
    offset: Offset = 0,
    kind: Annotated[VerificationKind | None, Query()] = None,
    repository_id: IdFilter = None,
    job_id: IdFilter = None,
    state: Annotated[VerificationState | None, Query()] = None,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """List the register, newest first, filtered; ``format=csv`` exports every match as CSV."""
    chosen = _filter(kind, repository_id, job_id, state, since, until)
    if format == "csv":
        return _csv(session, chosen)
    return page_of(list_verifications(session, chosen, offset, limit), verification_json)


@router.get("/verifications.csv")
def verifications_csv(  # noqa: PLR0917 (each filter is a query parameter)
    session: CatalogSession,
    principal: Annotated[Principal, allow("verifications.read")],
    kind: Annotated[VerificationKind | None, Query()] = None,
    repository_id: IdFilter = None,
    job_id: IdFilter = None,
    state: Annotated[VerificationState | None, Query()] = None,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
) -> Response:
    """Export the register (every match of the filters) as CSV."""
    return _csv(session, _filter(kind, repository_id, job_id, state, since, until))


def _csv(session: CatalogSession, chosen: VerificationFilter) -> Response:
    page = list_verifications(session, chosen, 0, 1)
    records = []
    offset = 0
    while offset < min(page.total, CSV_ROWS):
        batch = list_verifications(session, chosen, offset, 500).items
        records.extend(batch)
        offset += 500
    headers = {"Content-Disposition": 'attachment; filename="verifications.csv"'}
    return Response(register_csv(session, records), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/verifications/{verification_id}")
def verifications_show(
    verification_id: VerificationId,
    session: CatalogSession,
    principal: Annotated[Principal, allow("verifications.read")],
) -> dict[str, Any]:
    """Show one verification with its evidence."""
    return verification_json(get_verification(session, verification_id))


@router.post("/verifications", status_code=201)
def verifications_request(
    body: VerifyNow,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("verifications.run")],
) -> dict[str, Any]:
    """Queue a scrub of a repository or a restore test of a job now (409 when one is pending)."""
    verification = verify_now(
        session,
        repository_id=body.repository_id,
        job_id=body.job_id,
        requested_by=principal.user.username,
        now=now_of(request),
    )
    document = verification_json(verification)
    after = {"kind": document["kind"], "repository_id": body.repository_id, "job_id": body.job_id}
    audit(session, request, principal, "verification.request", "verification", verification.id, after=after)
    session.commit()
    return document


@router.get("/repositories/{repository_id}/verification")
def repository_verification_show(
    repository_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("repositories.read")],
) -> dict[str, Any]:
    """Show a repository's scrub schedule, period, cycle progress and next scrub."""
    return repository_verification_json(get_repository(session, repository_id), now_of(request))


@router.patch("/repositories/{repository_id}/verification")
def repository_verification_update(
    repository_id: RecordId,
    body: RepositoryVerification,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("repositories.write")],
) -> dict[str, Any]:
    """Change a repository's scrub schedule and/or period."""
    before = repository_verification_json(get_repository(session, repository_id), now_of(request))
    record = set_repository_verification(
        session, repository_id, schedule=body.schedule, period_days=body.scrub_period_days
    )
    after = repository_verification_json(record, now_of(request))
    audit(session, request, principal, "repository.verification", "repository", repository_id, before, after)
    session.commit()
    return after


@router.get("/jobs/{job_id}/restore-test")
def job_restore_test_show(
    job_id: RecordId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("jobs.read")],
) -> dict[str, Any]:
    """Show a job's restore-test schedule, sample size and next test."""
    return job_restore_test_json(get_job(session, job_id), now_of(request))


@router.patch("/jobs/{job_id}/restore-test")
def job_restore_test_update(
    job_id: RecordId,
    body: JobRestoreTest,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("jobs.write")],
) -> dict[str, Any]:
    """Change a job's restore-test schedule and/or sample size."""
    before = job_restore_test_json(get_job(session, job_id), now_of(request))
    job = set_job_restore_test(session, job_id, schedule=body.schedule, sample_files=body.sample_files)
    after = job_restore_test_json(job, now_of(request))
    audit(session, request, principal, "job.restore_test", "job", job_id, before, after)
    session.commit()
    return after


@router.get("/verification-servers")
def verification_servers_list(
    session: CatalogSession, principal: Annotated[Principal, allow("verifications.read")]
) -> dict[str, Any]:
    """List the database servers restore tests restore into (never their passwords)."""
    return {"items": [server_json(record) for record in list_restore_test_servers(session)]}


@router.put("/verification-servers/{kind}")
def verification_servers_set(
    kind: ServerKind,
    body: TestServer,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("verifications.configure")],
) -> dict[str, Any]:
    """Set the server restore tests of ``kind`` restore into; its password is sealed, never shown."""
    key = request.app.state.context.secret_key
    record = set_restore_test_server(
        session, key, kind, body.url, body.password, now_of(request), principal.user.username
    )
    parse_address(body.url, kind)  # ConfigurationError (422) when it is no server address of its kind
    document = server_json(record)
    audit(session, request, principal, "verification_server.set", "verification_server", kind, after=document)
    session.commit()
    return document


@router.delete("/verification-servers/{kind}")
def verification_servers_remove(
    kind: ServerKind,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("verifications.configure")],
) -> dict[str, Any]:
    """Remove the server restore tests of ``kind`` restore into (404 when none is set); return what it was."""
    document = server_json(remove_restore_test_server(session, kind))
    audit(
        session,
        request,
        principal,
        "verification_server.remove",
        "verification_server",
        kind,
        before=document,
    )
    session.commit()
    return document
