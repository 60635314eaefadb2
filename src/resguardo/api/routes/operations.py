"""Operations endpoints without authentication: ``/healthz`` and Prometheus ``/metrics``.

``/metrics`` shows figures of the catalog, no names of secrets nor personal data: runs by state, bytes
read and added per repository, and per job the duration of the last finished run and the time of the
last success. Put it behind the network's access rules if job names are sensitive.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from resguardo.api.context import context_of
from resguardo.catalog.queries.statistics import RunStatistics, run_statistics

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz(request: Request) -> Any:
    """Answer 200 when the catalog answers a query, else 503."""
    try:
        with context_of(request).engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return JSONResponse(
            {
                "error": {
                    "code": "unavailable",
                    "message": "the catalog's database does not answer",
                    "details": {},
                }
            },
            status_code=503,
        )
    return {"status": "ok", "database": "ok"}


class _CatalogCollector:
    """A Prometheus collector over one snapshot of the catalog's figures."""

    def __init__(self, statistics: RunStatistics) -> None:
        self.statistics = statistics

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families."""
        figures = self.statistics
        runs = GaugeMetricFamily("resguardo_runs", "Runs in the catalog, by state", labels=["state"])
        for state, count in sorted(figures.runs_by_state.items()):
            runs.add_metric([state], count)
        yield runs
        read = GaugeMetricFamily(
            "resguardo_bytes_read", "Bytes read by all runs, per repository", labels=["repository"]
        )
        added = GaugeMetricFamily(
            "resguardo_bytes_added",
            "Bytes added to storage by all runs, per repository",
            labels=["repository"],
        )
        for name in sorted(figures.bytes_read_by_repository):
            read.add_metric([name], figures.bytes_read_by_repository[name])
            added.add_metric([name], figures.bytes_added_by_repository[name])
        yield read
        yield added
        duration = GaugeMetricFamily(
            "resguardo_last_run_duration_seconds", "Duration of each job's last finished run", labels=["job"]
        )
        success = GaugeMetricFamily(
            "resguardo_last_success_timestamp_seconds",
            "When each job last succeeded (Unix time)",
            labels=["job"],
        )
        for job in figures.jobs:
            if job.last_duration_seconds is not None:
                duration.add_metric([job.job_name], job.last_duration_seconds)
            if job.last_success_at is not None:
                success.add_metric([job.job_name], job.last_success_at.timestamp())
        yield duration
        yield success


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Return the catalog's figures in Prometheus' text format."""
    with context_of(request).sessions() as session:
        statistics = run_statistics(session)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_CatalogCollector(statistics))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
