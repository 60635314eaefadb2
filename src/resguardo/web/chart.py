"""The dashboard's chart of the last days as plain numbers for an inline SVG: one bar per day for the
runs (stacked by outcome) and one for the bytes added, each scaled to the largest day."""

from __future__ import annotations

from dataclasses import dataclass

from resguardo.catalog.queries.dashboard import DayFigures

WIDTH = 720
RUNS_HEIGHT = 120
BYTES_HEIGHT = 80
GAP = 2


@dataclass(frozen=True)
class Bar:
    """One day's bars: its left edge and width, the heights of its stacked run parts and of its bytes."""

    day: DayFigures
    x: float
    width: float
    succeeded: float
    partial: float
    failed: float
    other: float
    bytes_added: float


@dataclass(frozen=True)
class Chart:
    """The bars of every day, the size of the drawing, and the largest values the scales reach."""

    bars: list[Bar]
    width: int
    runs_height: int
    bytes_height: int
    most_runs: int
    most_bytes: int


def chart_of(days: list[DayFigures]) -> Chart:
    """Return the chart of ``days`` (oldest first)."""
    most_runs = max((day.runs for day in days), default=0)
    most_bytes = max((day.bytes_added for day in days), default=0)
    step = WIDTH / max(len(days), 1)
    bars = []
    for index, day in enumerate(days):
        scale = RUNS_HEIGHT / most_runs if most_runs else 0.0
        other = day.runs - day.succeeded - day.partial - day.failed
        bars.append(
            Bar(
                day=day,
                x=round(index * step + GAP / 2, 2),
                width=round(max(step - GAP, 1.0), 2),
                succeeded=round(day.succeeded * scale, 2),
                partial=round(day.partial * scale, 2),
                failed=round(day.failed * scale, 2),
                other=round(other * scale, 2),
                bytes_added=round(day.bytes_added * BYTES_HEIGHT / most_bytes, 2) if most_bytes else 0.0,
            )
        )
    return Chart(bars, WIDTH, RUNS_HEIGHT, BYTES_HEIGHT, most_runs, most_bytes)
