"""The job form's schedule: operators' text and a window become the catalog's document, and back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from resguardo.jobs import InvalidSchedule
from resguardo.web.schedules import schedule_for_display, schedule_from_form

TODAY = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "document"),
    [
        ("every 60 days at 02:00", {"kind": "interval", "every_days": 60, "at": "02:00"}),
        ("daily at 01:00", {"kind": "interval", "every_days": 1, "at": "01:00"}),
        ("every 2 weeks at 04:00", {"kind": "interval", "every_days": 14, "at": "04:00"}),
        ("every 6 hours", {"kind": "interval", "every_minutes": 360}),
        ("every 48 hours", {"kind": "interval", "every_days": 2, "at": "00:00"}),
        ("weekly on sunday, wed at 03:00", {"kind": "weekly", "weekdays": ["wed", "sun"], "at": "03:00"}),
        ("monthly on day 1 at 01:00", {"kind": "monthly", "month_days": [1], "at": "01:00"}),
        (
            "daily at 23:00 in America/Guayaquil window 22:00-06:00",
            {
                "kind": "interval",
                "every_days": 1,
                "at": "23:00",
                "timezone": "America/Guayaquil",
                "window": {"start": "22:00", "end": "06:00"},
            },
        ),
    ],
)
def test_schedule_text_becomes_the_catalogs_document(text: str, document: dict[str, object]) -> None:
    assert schedule_from_form(text, "", "", TODAY) == document


def test_window_fields_are_added_and_checked() -> None:
    document = schedule_from_form("daily at 01:00", "22:00", "06:00", TODAY)
    assert document["window"] == {"start": "22:00", "end": "06:00"}
    with pytest.raises(InvalidSchedule) as missing_end:
        schedule_from_form("daily at 01:00", "22:00", "", TODAY)
    with pytest.raises(InvalidSchedule) as bad_time:
        schedule_from_form("daily at 01:00", "25:00", "06:00", TODAY)
    assert missing_end.value.field == "window.end" and bad_time.value.field == "window.start"


def test_unreadable_or_unstorable_text_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidSchedule) as unreadable:
        schedule_from_form("whenever", "", "", TODAY)
    with pytest.raises(InvalidSchedule) as last_day:
        schedule_from_form("monthly on the last day at 02:00", "", "", TODAY)
    assert unreadable.value.field == "schedule" and last_day.value.field == "schedule"


def test_a_stored_schedule_is_shown_as_text_that_reads_back_to_it() -> None:
    document = {
        "kind": "interval",
        "every_days": 60,
        "at": "02:00",
        "window": {"start": "22:00", "end": "06:00"},
    }

    text, start, end = schedule_for_display(document, TODAY)

    assert text == "every 60 days at 02:00 starting 2026-03-02"
    assert (start, end) == ("22:00", "06:00")
    assert schedule_from_form(text, start, end, TODAY) == document
    assert schedule_for_display({"kind": "nonsense"}, TODAY)[0] == "{'kind': 'nonsense'}"
