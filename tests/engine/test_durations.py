"""Tests of retention durations: parsing ``2y5m7d3h`` and subtracting on the calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from resguardo.core.errors import EXIT_USAGE, UsageError
from resguardo.engine.durations import Duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2y5m7d3h", Duration(years=2, months=5, days=7, hours=3)),
        ("30d", Duration(days=30)),
        ("12h", Duration(hours=12)),
        ("3h1y", Duration(years=1, hours=3)),
        (" 1m ", Duration(months=1)),
        ("0y6m", Duration(months=6)),
    ],
)
def test_parse_duration_reads_each_unit(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "1w", "1.5d", "-1d", "1d 2h", "1D", "1d1d", "0d", "0y0h"])
def test_parse_duration_refuses_malformed_repeated_or_zero_text(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_duration(text)
    assert raised.value.exit_code == EXIT_USAGE
    assert "y (years), m (months), d (days), h (hours)" in raised.value.hint


def test_a_duration_is_written_back_as_parsed() -> None:
    assert str(parse_duration("3h1y")) == "1y3h"
    assert str(Duration()) == "0h"


@pytest.mark.parametrize(
    ("moment", "duration", "expected"),
    [
        # months and years are calendar months and years: the day is clamped to the shorter month
        ("2026-03-31T10:00", Duration(months=1), "2026-02-28T10:00"),
        ("2028-03-31T10:00", Duration(months=1), "2028-02-29T10:00"),
        ("2028-02-29T10:00", Duration(years=1), "2027-02-28T10:00"),
        ("2028-02-29T10:00", Duration(years=4), "2024-02-29T10:00"),
        ("2026-01-15T10:00", Duration(months=13), "2024-12-15T10:00"),
        ("2027-03-01T00:00", Duration(years=1), "2026-03-01T00:00"),
        # days and hours come after the months
        ("2026-03-31T02:00", Duration(months=1, days=1, hours=3), "2026-02-26T23:00"),
        ("2028-03-01T00:00", Duration(days=1), "2028-02-29T00:00"),
    ],
)
def test_before_counts_on_the_calendar(moment: str, duration: Duration, expected: str) -> None:
    start = datetime.fromisoformat(moment).replace(tzinfo=UTC)
    assert duration.before(start) == datetime.fromisoformat(expected).replace(tzinfo=UTC)


def test_before_keeps_the_time_zone_of_the_moment() -> None:
    zone = timezone(timedelta(hours=10))
    start = datetime(2026, 11, 20, 8, 0, tzinfo=zone)
    assert Duration(days=1).before(start) == datetime(2026, 11, 19, 8, 0, tzinfo=zone)


def test_before_an_enormous_duration_is_before_every_moment() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert Duration(years=5000).before(start) is None
    assert Duration(days=10**12).before(start) is None
    assert parse_duration("99999999999999999999d").before(start) is None
