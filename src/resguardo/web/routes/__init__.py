"""The console's pages, one module per group of pages."""

from fastapi import APIRouter

from resguardo.web.routes import audit, dashboard, inventory, jobs, people, runs, session

ROUTERS: tuple[APIRouter, ...] = (
    session.router,
    dashboard.router,
    inventory.router,
    jobs.router,
    runs.router,
    people.router,
    audit.router,
)
