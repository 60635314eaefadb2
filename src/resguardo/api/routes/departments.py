"""Departments (areas) of the institution: everyone may list them, administrators change them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from resguardo.api.auth import CatalogSession, Principal, allow
from resguardo.api.routes._common import (
    DATABASE_INTEGER_MAX,
    Input,
    Limit,
    Name,
    Offset,
    Text,
    audit,
    changes_of,
    naming_fields,
    now_of,
    page_of,
)
from resguardo.catalog.models import Department
from resguardo.catalog.queries import (
    create_department,
    delete_department,
    get_department,
    list_departments,
    snapshot_of,
    update_department,
)
from resguardo.catalog.queries.people import DEPARTMENT_FIELDS

router = APIRouter(prefix="/api/v1", tags=["people"])
DepartmentId = Annotated[int, Path(ge=1, le=DATABASE_INTEGER_MAX)]


class DepartmentCreate(Input):
    """A new department."""

    name: Name
    description: Text = ""


class DepartmentUpdate(Input):
    """Changes to a department (only the fields sent change)."""

    name: Name | None = None
    description: Text | None = None


def department_json(department: Department) -> dict[str, Any]:
    """Return a department as JSON."""
    return {
        "id": department.id,
        "name": department.name,
        "description": department.description,
        "created_at": department.created_at.isoformat(),
        "updated_at": department.updated_at.isoformat(),
    }


@router.get("/departments")
def departments_list(
    session: CatalogSession,
    principal: Annotated[Principal, allow("departments.read")],
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """List departments by name."""
    return page_of(list_departments(session, offset=offset, limit=limit), department_json)


@router.post("/departments", status_code=201)
def departments_create(
    body: DepartmentCreate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("departments.write")],
) -> dict[str, Any]:
    """Add a department."""
    with naming_fields(DEPARTMENT_FIELDS):
        department = create_department(session, now=now_of(request), **body.model_dump())
    after = snapshot_of(department)
    audit(session, request, principal, "department.create", "department", department.id, after=after)
    session.commit()
    return department_json(department)


@router.get("/departments/{department_id}")
def departments_show(
    department_id: DepartmentId,
    session: CatalogSession,
    principal: Annotated[Principal, allow("departments.read")],
) -> dict[str, Any]:
    """Show one department."""
    return department_json(get_department(session, department_id))


@router.patch("/departments/{department_id}")
def departments_update(
    department_id: DepartmentId,
    body: DepartmentUpdate,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("departments.write")],
) -> dict[str, Any]:
    """Rename a department or change its description."""
    before = snapshot_of(get_department(session, department_id))
    changes = {key: value for key, value in changes_of(body).items() if value is not None}
    with naming_fields(DEPARTMENT_FIELDS):
        department = update_department(session, department_id, changes, now=now_of(request))
    after = snapshot_of(department)
    audit(session, request, principal, "department.update", "department", department_id, before, after)
    session.commit()
    return department_json(department)


@router.delete("/departments/{department_id}", status_code=204)
def departments_delete(
    department_id: DepartmentId,
    request: Request,
    session: CatalogSession,
    principal: Annotated[Principal, allow("departments.write")],
) -> None:
    """Remove a department no user belongs to (409 naming its users otherwise)."""
    before = snapshot_of(get_department(session, department_id))
    delete_department(session, department_id)
    audit(session, request, principal, "department.delete", "department", department_id, before=before)
    session.commit()
