"""Wall-clock times to instants across daylight saving time changes (Europe/Madrid, America/Santiago)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from resguardo.schedules._localtime import resolve_wall_time

MADRID = ZoneInfo("Europe/Madrid")
SANTIAGO = ZoneInfo("America/Santiago")
BOGOTA = ZoneInfo("America/Bogota")


def test_ordinary_wall_time_is_read_with_the_offset_in_force() -> None:
    assert resolve_wall_time(date(2025, 1, 15), time(1, 0), BOGOTA) == datetime(2025, 1, 15, 6, 0, tzinfo=UTC)
    assert resolve_wall_time(date(2025, 7, 15), time(2, 0), MADRID) == datetime(2025, 7, 15, 0, 0, tzinfo=UTC)


def test_nonexistent_time_in_madrid_runs_when_the_clocks_jump() -> None:
    # 2024-03-31: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist; the jump is at 01:00 UTC.
    instant = resolve_wall_time(date(2024, 3, 31), time(2, 30), MADRID)
    assert instant == datetime(2024, 3, 31, 1, 0, tzinfo=UTC)
    assert instant.astimezone(MADRID).strftime("%H:%M") == "03:00"


def test_nonexistent_midnight_hour_in_santiago_runs_when_the_clocks_jump() -> None:
    # 2024-09-08: 00:00 -04 jumps to 01:00 -03; 00:30 does not exist.
    instant = resolve_wall_time(date(2024, 9, 8), time(0, 30), SANTIAGO)
    assert instant == datetime(2024, 9, 8, 4, 0, tzinfo=UTC)
    assert instant.astimezone(SANTIAGO).strftime("%Y-%m-%d %H:%M") == "2024-09-08 01:00"


def test_ambiguous_time_in_madrid_is_its_first_occurrence() -> None:
    # 2024-10-27: 03:00 CEST falls back to 02:00 CET, so 02:30 happens at 00:30 and at 01:30 UTC.
    assert resolve_wall_time(date(2024, 10, 27), time(2, 30), MADRID) == datetime(
        2024, 10, 27, 0, 30, tzinfo=UTC
    )


def test_ambiguous_time_in_santiago_is_its_first_occurrence() -> None:
    # 2024-04-07 00:00 -03 falls back to 2024-04-06 23:00 -04: 23:30 on the 6th happens twice.
    assert resolve_wall_time(date(2024, 4, 6), time(23, 30), SANTIAGO) == datetime(
        2024, 4, 7, 2, 30, tzinfo=UTC
    )
