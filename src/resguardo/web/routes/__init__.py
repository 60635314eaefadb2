"""The console's pages, one module per group of pages."""

from fastapi import APIRouter

from resguardo.web.routes import (
    audit,
    client_tests,
    dashboard,
    inventory,
    jobs,
    notifications,
    people,
    restores,
    runs,
    session,
    verification_settings,
    verifications,
)

ROUTERS: tuple[APIRouter, ...] = (
    session.router,
    dashboard.router,
    inventory.router,
    client_tests.router,  # after inventory: /clients/new before /clients/{id}
    jobs.router,
    restores.router,  # before runs: /runs/{id}/restore
    runs.router,
    verifications.router,
    verification_settings.router,
    people.router,
    audit.router,
    notifications.router,
)
