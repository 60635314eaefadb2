"""The service under a large catalog: 1,000 clients, 3,000 jobs, a month of runs, on SQLite and PostgreSQL.

For each database (``--databases sqlite postgresql``):

1. a fresh catalog (an SQLite file, or a database in a PostgreSQL cluster started from Debian's package
   on 127.0.0.1, as the tests start it), migrated;
2. a real server (``uvicorn`` over the same application factory ``resguardo serve`` uses, without its
   worker, so that nothing but the requests uses the CPU) in a subprocess on 127.0.0.1;
3. the inventory added **through the API** by an administrator's token: ``--clients`` clients, 10
   repositories, ``--jobs`` jobs spread over them and over the seeded categories; then ``--days`` days of
   run history (one run a day for every third job, some failed) written straight into the catalog, and
   the database's statistics brought up to date (``VACUUM ANALYZE``, as autovacuum would);
4. **scheduler passes** over the catalog (``schedule_pass``: read every job's state, plan, queue what is
   due), in this process, with the schedule cache a running loop keeps: the median and 95th percentile
   of ``--passes`` passes a minute apart;
5. **latency**: one client asking each endpoint ``--requests`` times in a row (job list first page and
   deep page, filtered job list, run list, dashboard, client list): median, 95th percentile, maximum;
6. **concurrency**: ``--concurrency`` clients at once (asyncio over httpx), each sending a mix of the
   same requests; errors (any status but 200, any connection error), throughput, and latency percentiles.

Usage::

    .venv/bin/python benchmarks/catalog_load.py [--databases sqlite postgresql] [--json]

The load generator shares the machine with the server: under concurrency, each answer's latency
includes its wait behind the others (one server process answers one request at a time per core).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

from resguardo.catalog import create_catalog_engine, session_factory, upgrade
from resguardo.catalog.enums import Role, RunState, RunTrigger
from resguardo.catalog.models import Run
from resguardo.catalog.queries import create_api_token, create_user
from resguardo.jobs.scheduling_loop import ScheduleCache, schedule_pass, settle_memory

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.postgres import PostgresCluster, postgres_bin_dir  # noqa: E402 (after the path)
from tests.fixtures.sshd import free_port  # noqa: E402

REPOSITORIES = 10
SERVER_START_SECONDS = 60


@dataclass
class Server:
    """A server process on 127.0.0.1 and the token of its administrator."""

    url: str
    token: str
    process: subprocess.Popen[bytes]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Latencies:
    """Seconds per request, and how many failed."""

    seconds: list[float] = field(default_factory=list)
    errors: int = 0

    def summary(self) -> dict[str, float | int]:
        """Return count, errors, median, 95th percentile and maximum in milliseconds."""
        ordered = sorted(self.seconds)
        if not ordered:
            return {"count": 0, "errors": self.errors}
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return {
            "count": len(ordered),
            "errors": self.errors,
            "median_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(p95 * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1),
        }


@contextmanager
def catalog(database: str, workdir: Path) -> Iterator[str]:
    """Yield the URL of a fresh, migrated catalog of ``database`` ("sqlite" or "postgresql")."""
    if database == "sqlite":
        url = f"sqlite:///{workdir / 'catalog.sqlite3'}"
        upgrade(url)
        yield url
        return
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL is not installed: run scripts/test-services.sh first")
    root = Path(tempfile.mkdtemp(prefix="resguardo-bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = PostgresCluster(root=root, bin_dir=bin_dir)
    cluster.start()
    try:
        url = cluster.url(cluster.create_database())
        upgrade(url)
        yield url
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def administrator_token(url: str) -> str:
    """Add an administrator with an API token to the catalog at ``url``; return the token."""
    engine = create_catalog_engine(url)
    with session_factory(engine)() as session:
        user = create_user(session, username="bench", roles=[Role.ADMINISTRATOR], now=datetime.now(UTC))
        _record, token = create_api_token(session, user.id, name="bench", now=datetime.now(UTC))
        session.commit()
    engine.dispose()
    return token


def serve(url: str, data_dir: Path, port: int) -> None:
    """Run the application over the catalog at ``url`` on 127.0.0.1:``port`` until killed (subprocess)."""
    import uvicorn

    from resguardo.api import ApiSettings

    try:
        from resguardo.web.app import create_console_app as factory  # the console with the API
    except ImportError:
        from resguardo.api import create_app as factory
    settings = ApiSettings(database_url=url, data_dir=data_dir, cookie_secure=False)
    uvicorn.run(factory(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_server(url: str, data_dir: Path) -> Server:
    """Start :func:`serve` in a subprocess and wait until it answers; return it with a token."""
    token = administrator_token(url)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, "--data-dir", str(data_dir), "--port", str(port)],
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return Server(base, token, process)
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not answer within a minute")


def seed_inventory(server: Server, clients: int, jobs: int) -> None:
    """Add clients, repositories and jobs through the API."""
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=server.headers, timeout=30) as http:
        categories = [row["id"] for row in _checked(http.get("/categories")).json()["items"]]
        client_ids = [
            _checked(
                http.post(
                    "/clients", json={"name": f"server-{n:04d}", "address": f"10.0.{n // 250}.{n % 250}"}
                )
            ).json()["id"]
            for n in range(clients)
        ]
        repository_ids = [
            _checked(
                http.post(
                    "/repositories",
                    json={
                        "name": f"repo-{n:02d}",
                        "url": f"/srv/backups/{n:02d}",
                        "secrets": {"passphrase": "x" * 24},
                    },
                )
            ).json()["id"]
            for n in range(REPOSITORIES)
        ]
        chooser = random.Random(3)
        for n in range(jobs):
            body = {
                "name": f"job-{n:05d}",
                "client_id": client_ids[n % clients],
                "repository_id": repository_ids[n % REPOSITORIES],
                "category_id": chooser.choice(categories),
                "source": {"kind": "paths", "paths": [f"/srv/data/{n}"], "excludes": []},
            }
            _checked(http.post("/jobs", json=body))


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 300:
        raise SystemExit(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
    return response


def seed_history(url: str, days: int, now: datetime) -> int:
    """Write ``days`` days of runs (every third job once a day, one in twelve failed); return how many."""
    engine = create_catalog_engine(url)
    rows = []
    with engine.connect() as connection:
        job_ids = [row[0] for row in connection.exec_driver_sql("SELECT id FROM jobs ORDER BY id")]
    for day in range(days, 0, -1):
        for job_id in job_ids[::3]:
            started = now - timedelta(days=day, minutes=job_id % 600)
            failed = (job_id + day) % 12 == 0
            rows.append(
                {
                    "job_id": job_id,
                    "state": RunState.FAILED if failed else RunState.SUCCEEDED,
                    "trigger": RunTrigger.SCHEDULED,
                    "attempt": 1,
                    "queued_at": started,
                    "not_before": started,
                    "scheduled_for": started,
                    "started_at": started,
                    "finished_at": started + timedelta(minutes=3),
                    "bytes_read": 0 if failed else 50_000_000 + job_id * 1000,
                    "bytes_added": 0 if failed else 1_000_000 + job_id * 10,
                    "files": 0 if failed else 1000 + job_id,
                    "log": "",
                    "error": "could not reach the client" if failed else "",
                }
            )
    with engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(insert(Run), rows[start : start + 5000])
    if engine.dialect.name == "postgresql":
        # What autovacuum does on a server running for a while: statistics and the visibility map, which
        # index-only scans need; without it a freshly filled table is read row by row.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return len(rows)


def time_scheduler(url: str, passes: int) -> dict[str, float | int]:
    """Return the figures of ``passes`` scheduler passes a minute apart over the catalog at ``url``."""
    engine = create_catalog_engine(url)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    timings, queued, cache = Latencies(), 0, ScheduleCache()
    schedule_pass(sessions, now, cache)  # the loop's first pass: reads every schedule, loads zone files
    settle_memory()  # as the loop does after its first pass
    for number in range(passes):
        began = time.perf_counter()
        result = schedule_pass(sessions, now + timedelta(minutes=number + 1), cache)
        timings.seconds.append(time.perf_counter() - began)
        queued += len(result.queued)
    engine.dispose()
    return {**timings.summary(), "runs_queued": queued}


def endpoints(jobs: int) -> dict[str, str]:
    """Return the requests timed, by label."""
    return {
        "job list, first page": "/api/v1/jobs?limit=50",
        "job list, deep page": f"/api/v1/jobs?limit=50&offset={max(0, jobs - 50)}",
        "job list, by name": "/api/v1/jobs?name_contains=job-01&limit=50",
        "run list, first page": "/api/v1/runs?limit=50",
        "client list, first page": "/api/v1/clients?limit=50",
        "dashboard": "/api/v1/dashboard",
    }


def time_sequential(
    server: Server, paths: dict[str, str], requests: int
) -> dict[str, dict[str, float | int]]:
    """Return latency figures of each path asked ``requests`` times by one client."""
    figures = {}
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as http:
        for label, path in paths.items():
            if http.get(path).status_code == 404:
                figures[label] = {"count": 0, "errors": 0, "missing": 1}
                continue
            timings = Latencies()
            for _ in range(requests):
                began = time.perf_counter()
                response = http.get(path)
                timings.seconds.append(time.perf_counter() - began)
                timings.errors += response.status_code != 200
            figures[label] = timings.summary()
    return figures


async def _client_loop(http: httpx.AsyncClient, paths: list[str], count: int, timings: Latencies) -> None:
    for number in range(count):
        began = time.perf_counter()
        try:
            response = await http.get(paths[number % len(paths)])
            if response.status_code != 200:
                timings.errors += 1
        except httpx.TransportError:
            timings.errors += 1
            continue
        timings.seconds.append(time.perf_counter() - began)


async def _concurrent(server: Server, paths: list[str], clients: int, each: int) -> tuple[Latencies, float]:
    timings = Latencies()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=server.url, headers=server.headers, timeout=60, limits=limits
    ) as http:
        began = time.perf_counter()
        await asyncio.gather(
            *(_client_loop(http, paths[n:] + paths[:n], each, timings) for n in range(clients))
        )
        return timings, time.perf_counter() - began


def time_concurrent(server: Server, paths: list[str], clients: int, each: int) -> dict[str, float | int]:
    """Return latency, errors and throughput of ``clients`` clients sending ``each`` requests at once."""
    timings, elapsed = asyncio.run(_concurrent(server, paths, clients, each))
    return {
        **timings.summary(),
        "clients": clients,
        "requests_per_second": round(len(timings.seconds) / elapsed, 1),
    }


def available_paths(server: Server, paths: dict[str, str]) -> list[str]:
    """Return the paths the server answers (the dashboard may not exist in older versions)."""
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as http:
        return [path for path in paths.values() if http.get(path).status_code == 200]


def measure(database: str, args: argparse.Namespace) -> dict[str, object]:
    """Run every step on ``database``; return its figures."""
    with (
        tempfile.TemporaryDirectory(prefix="resguardo-bench-") as folder,
        catalog(database, Path(folder)) as url,
    ):
        server = start_server(url, Path(folder))
        try:
            began = time.perf_counter()
            seed_inventory(server, args.clients, args.jobs)
            seeded = time.perf_counter() - began
            runs = seed_history(url, args.days, datetime.now(UTC))
            paths = endpoints(args.jobs)
            return {
                "database": database,
                "clients": args.clients,
                "jobs": args.jobs,
                "runs": runs,
                "seed_through_api_s": round(seeded, 1),
                "scheduler_pass": time_scheduler(url, args.passes),
                "sequential": time_sequential(server, paths, args.requests),
                "concurrent": time_concurrent(
                    server, available_paths(server, paths), args.concurrency, args.each
                ),
            }
        finally:
            server.process.terminate()
            server.process.wait(timeout=30)


def print_table(figures: list[dict[str, object]]) -> None:
    """Print the figures as a readable table."""
    for block in figures:
        print(
            f"\n{block['database']}: {block['clients']} clients, {block['jobs']} jobs, {block['runs']} runs"
        )
        print(f"  added through the API in {block['seed_through_api_s']} s")
        rows = {"scheduler pass": block["scheduler_pass"], **block["sequential"]}  # type: ignore[dict-item]
        rows[f"{block['concurrent']['clients']} clients at once, mixed"] = block["concurrent"]  # type: ignore[index]
        print(f"  {'what':<34}{'count':>7}{'errors':>8}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}")
        for label, row in rows.items():
            if row.get("missing"):
                print(f"  {label:<34}   (not served)")
                continue
            print(
                f"  {label:<34}{row['count']:>7}{row['errors']:>8}{row['median_ms']:>11}{row['p95_ms']:>9}"
                f"{row['max_ms']:>9}"
            )
        print(f"  throughput under concurrency: {block['concurrent']['requests_per_second']} requests/s")  # type: ignore[index]


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the benchmark and print the figures; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--passes", type=int, default=60)
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--each", type=int, default=20, help="requests per concurrent client")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.data_dir, args.port)
        return 0
    figures = [measure(database, args) for database in args.databases]
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
