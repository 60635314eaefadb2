"""Time the scheduling loop's verification pass over a catalog of 3,000 jobs (SQLite), nothing due.

Usage: ``python benchmarks/verification_pass.py [--jobs 3000] [--passes 60]``. Builds a throwaway
catalog (10 repositories, one client, the jobs spread over them), then times
:func:`resguardo.jobs.verification_schedule.schedule_verifications` a minute apart on a Tuesday (no
restore test due, the repositories' scrubs queued by the first pass), after that first pass, which
parses every schedule. Prints the median, the
95th percentile and the maximum in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from resguardo.catalog import (
    Transport,
    create_catalog_engine,
    load_secret_key,
    queries,
    session_factory,
    upgrade,
)
from resguardo.jobs.scheduling_loop import settle_memory
from resguardo.jobs.verification_schedule import schedule_verifications

CREATED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
QUIET = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday: no monthly test due


def main() -> None:
    """Build the catalog, time the passes, print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--passes", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="verification-pass-") as folder:
        url = f"sqlite:///{folder}/catalog.sqlite"
        upgrade(url)
        key = load_secret_key(Path(folder), create=True)
        sessions = session_factory(create_catalog_engine(url))
        with sessions() as session:
            client = queries.create_client(session, name="host", transport=Transport.LOCAL, now=CREATED)
            repositories = [
                queries.create_repository(session, key, name=f"repo-{n}", url=f"/srv/r{n}", now=CREATED).id
                for n in range(10)
            ]
            category = queries.find_category(session, "documents").id
            for number in range(args.jobs):
                queries.create_job(
                    session,
                    name=f"job-{number:05}",
                    client_id=client.id,
                    repository_id=repositories[number % 10],
                    category_id=category,
                    now=CREATED,
                )
            session.commit()
        schedule_verifications(sessions, QUIET)  # parses every schedule; queues the ten scrubs due
        settle_memory()
        durations = []
        for number in range(args.passes):
            started = time.perf_counter()
            assert schedule_verifications(sessions, QUIET + timedelta(minutes=number + 1)) == []
            durations.append(time.perf_counter() - started)
    ordered = sorted(durations)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(
        f"{args.jobs} jobs, {args.passes} passes: median {statistics.median(ordered) * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
