"""Scheduler pass with many jobs: how long one ``plan(jobs, now)`` takes over a catalog of mixed schedules.

Builds N jobs (default 3,000) with a fixed random seed: the category defaults, intervals in hours and
days, weekly and monthly rules, in six time zones (three with daylight saving time), a third of them with
a backup window, some paused, some with a run in progress, a few with a run-now request. Then times:

- steady passes: one pass a simulated minute (``--passes``, default 600: ten hours), the runs each
  pass returns recorded as the catalog would (slots stored, requests answered) before the next;
- catch-up passes: every job's last slot ten days old, as after downtime, so every job is due at once.

Reports the median, 95th percentile and maximum wall time of a pass, and the mean time per job.

Usage: ``python benchmarks/scheduler.py [--jobs 3000] [--passes 600] [--json]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from resguardo.jobs import (
    CATEGORY_DEFAULTS,
    DueRun,
    JobState,
    Schedule,
    Trigger,
    parse_schedule_text,
    plan,
)

ZONES = [
    "America/Bogota",
    "America/Guatemala",
    "America/Mexico_City",
    "America/Santiago",
    "Europe/Madrid",
    "UTC",
]
TEXTS = [
    "every 6 hours",
    "every 4 hours at 00:30",
    "every 60 days at 02:00",
    "every 7 days at 23:00",
    "daily at 01:00",
    "daily at 03:15 window 22:00-06:00",
    "weekly on sunday at 03:00",
    "weekly on mon, wed, fri at 21:00 window 20:00-02:00",
    "monthly on day 1 at 02:00",
    "monthly on the last day at 23:30 window 22:00-05:00",
    "every 30 minutes window 08:00-18:00",
]
START = datetime(2025, 3, 1, 12, tzinfo=UTC)


def make_jobs(count: int, seed: int = 7) -> list[JobState]:
    """Return ``count`` jobs with mixed schedules and states, the same for a given seed."""
    chooser = random.Random(seed)
    schedules: list[Schedule] = [
        parse_schedule_text(text, timezone=zone, start=date(2025, 1, 5)) for text in TEXTS for zone in ZONES
    ]
    schedules += [
        default.schedule_in(zone, date(2025, 1, 5))
        for default in CATEGORY_DEFAULTS.values()
        for zone in ZONES
    ]
    jobs = []
    for number in range(count):
        schedule = chooser.choice(schedules)
        last = schedule.last_slot_at_or_before(START - timedelta(minutes=chooser.randrange(0, 3 * 24 * 60)))
        jobs.append(
            JobState(
                job_id=number,
                schedule=schedule,
                effective_since=datetime(2025, 1, 1, tzinfo=UTC),
                last_scheduled_slot=last,
                paused=chooser.random() < 0.05,
                run_in_progress=chooser.random() < 0.05,
                run_now_requested_at=START if chooser.random() < 0.01 else None,
            )
        )
    return jobs


def record(jobs: list[JobState], runs: list[DueRun]) -> list[JobState]:
    """Return ``jobs`` with ``runs`` recorded as finished: slots stored, run-now requests answered."""
    by_id = {run.job_id: run for run in runs}
    recorded = []
    for job in jobs:
        run = by_id.get(job.job_id)
        if run is None:
            recorded.append(job)
            continue
        slot = run.schedule_slot if run.schedule_slot is not None else job.last_scheduled_slot
        request = None if run.trigger == Trigger.MANUAL else job.run_now_requested_at
        recorded.append(replace(job, last_scheduled_slot=slot, run_now_requested_at=request))
    return recorded


def time_pass(jobs: list[JobState], now: datetime) -> tuple[float, list[DueRun]]:
    """Return the seconds one ``plan`` took, and its runs."""
    began = time.perf_counter()
    runs = plan(jobs, now)
    return time.perf_counter() - began, runs


def steady(jobs: list[JobState], passes: int) -> tuple[list[float], int]:
    """Return the time of each of ``passes`` one-minute-apart passes, and the runs they gave in all."""
    durations, total = [], 0
    now = START
    for _ in range(passes):
        elapsed, runs = time_pass(jobs, now)
        durations.append(elapsed)
        total += len(runs)
        jobs = record(jobs, runs)
        now += timedelta(minutes=1)
    return durations, total


def catch_up(jobs: list[JobState], repeats: int) -> tuple[list[float], int]:
    """Return the time of passes in which every job's last slot is ten days old, and the runs of one."""
    old = [
        replace(job, last_scheduled_slot=START - timedelta(days=10), paused=False, run_in_progress=False)
        for job in jobs
    ]
    results = [time_pass(old, START) for _ in range(repeats)]
    return [elapsed for elapsed, _ in results], len(results[0][1])


def summary(name: str, durations: list[float], runs: int, jobs: int) -> dict[str, object]:
    """Return the median, 95th percentile and maximum of ``durations`` in milliseconds."""
    ordered = sorted(durations)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "passes": name,
        "count": len(durations),
        "jobs": jobs,
        "runs": runs,
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(p95 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "us_per_job": round(statistics.median(ordered) / jobs * 1e6, 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--passes", type=int, default=600, help="steady passes, one simulated minute apart")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    jobs = make_jobs(args.jobs)
    time_pass(jobs, START)  # warm up: zone files loaded, code paths compiled
    rows = [
        summary("steady, one a minute", *steady(jobs, args.passes), args.jobs),
        summary("catch-up, every job due", *catch_up(jobs, max(20, args.passes // 10)), args.jobs),
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"scheduler pass, {args.jobs} jobs (Python {sys.version.split()[0]})")
    print(f"{'passes':<26}{'count':>6}{'runs':>7}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}{'µs/job':>9}")
    for row in rows:
        print(
            f"{row['passes']:<26}{row['count']:>6}{row['runs']:>7}{row['median_ms']:>11}"
            f"{row['p95_ms']:>9}{row['max_ms']:>9}{row['us_per_job']:>9}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
