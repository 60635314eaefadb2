"""The console's home: the dashboard for those who may read it, a welcome page for the others."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from resguardo.api.auth import CatalogSession, Principal
from resguardo.api.routes._common import now_of
from resguardo.jobs.dashboard import dashboard_view
from resguardo.web.chart import chart_of
from resguardo.web.pages import PAGE_SIZE, may, page, page_offset, render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(
    request: Request, session: CatalogSession, principal: Annotated[Principal, page("session.show")]
) -> HTMLResponse:
    """Show the dashboard (permission ``dashboard.read``, as ``GET /api/v1/dashboard``), else a welcome."""
    if not may(principal, "dashboard.read"):
        return render(request, "welcome.html", {}, principal)
    attention = request.query_params.get("attention") == "1"
    figures = dashboard_view(
        session, now_of(request), offset=page_offset(request), limit=PAGE_SIZE, open_failures_only=attention
    )
    context = {"figures": figures, "chart": chart_of(figures.days), "attention": attention}
    return render(request, "dashboard.html", context, principal)
