"""The CLI's ``--schedule``: the text form or JSON, to the one dict form; bad input names the field."""

from __future__ import annotations

import pytest

from resguardo.schedules import InvalidSchedule, parse_schedule_argument


def test_text_argument_gives_the_dict_form_without_a_start_for_the_catalog_to_anchor() -> None:
    assert parse_schedule_argument("every 60 days at 02:00") == {
        "kind": "interval",
        "every": 60,
        "unit": "days",
        "at": "02:00",
        "timezone": "UTC",
        "window": None,
    }


def test_text_argument_keeps_its_window_zone_and_start() -> None:
    document = parse_schedule_argument("every 2 weeks at 22:00 starting 2025-01-06 in America/Lima")
    assert (document["start"], document["timezone"]) == ("2025-01-06", "America/Lima")
    assert parse_schedule_argument("daily at 01:00 window 22:00-06:00")["window"] == {
        "start": "22:00",
        "end": "06:00",
    }


def test_text_argument_may_name_several_days_of_the_month() -> None:
    document = parse_schedule_argument("monthly on days 15, 1 and the last day at 01:00")
    assert document["days"] == [1, 15, "last"]


def test_json_argument_is_checked_and_written_out_in_full() -> None:
    document = parse_schedule_argument(' {"kind": "weekly", "weekdays": ["sun", "mon"], "at": "03:00"} ')
    assert document == {
        "kind": "weekly",
        "weekdays": ["monday", "sunday"],
        "at": "03:00",
        "timezone": "UTC",
        "window": None,
    }


def test_text_without_a_zone_takes_the_given_one() -> None:
    assert (
        parse_schedule_argument("daily at 01:00", timezone="America/Guayaquil")["timezone"]
        == "America/Guayaquil"
    )


@pytest.mark.parametrize(
    ("argument", "field"),
    [
        ("every 0 days", "every"),
        ("daily at 25:00", "at"),
        ("daily at 01:00 in Mars/Base", "timezone"),
        ("daily at 01:00 window 22:00-22:00", "window.end"),
        ("sometimes", "schedule"),
        ('{"kind": "daily", "at": "01:00", "colour": "blue"}', "colour"),
        ('{"kind": "daily", "at": "25:00"}', "at"),
        ('{"kind": "daily"', "schedule"),
        ("[1, 2]", "schedule"),
    ],
)
def test_bad_argument_is_refused_naming_the_field(argument: str, field: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse_schedule_argument(argument)
    assert caught.value.field == field
    assert caught.value.hint
