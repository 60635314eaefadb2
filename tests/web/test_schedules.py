"""The job form's schedule: operators' text and a window become the catalog's document, and back."""

from __future__ import annotations

import pytest

from resguardo.schedules import InvalidSchedule
from resguardo.web.i18n import using_language
from resguardo.web.schedules import schedule_for_display, schedule_from_form, schedule_in_words

UTC_FIELDS = {"timezone": "UTC", "window": None}


@pytest.mark.parametrize(
    ("text", "document"),
    [
        ("every 60 days at 02:00", {"kind": "interval", "every": 60, "unit": "days", "at": "02:00"}),
        ("daily at 01:00", {"kind": "daily", "at": "01:00"}),
        ("every 6 hours", {"kind": "interval", "every": 6, "unit": "hours", "at": "00:00"}),
        (
            "weekly on sunday, wed at 03:00",
            {"kind": "weekly", "weekdays": ["wednesday", "sunday"], "at": "03:00"},
        ),
        (
            "monthly on days 1, 15 and the last day at 01:00",
            {"kind": "monthly", "days": [1, 15, "last"], "at": "01:00"},
        ),
        (
            "daily at 23:00 in America/Guayaquil window 22:00-06:00",
            {
                "kind": "daily",
                "at": "23:00",
                "timezone": "America/Guayaquil",
                "window": {"start": "22:00", "end": "06:00"},
            },
        ),
    ],
)
def test_schedule_text_becomes_the_catalogs_document(text: str, document: dict[str, object]) -> None:
    assert schedule_from_form(text, "", "") == {**UTC_FIELDS, **document}


def test_window_fields_are_added_and_checked() -> None:
    document = schedule_from_form("daily at 01:00", "22:00", "06:00")
    assert document["window"] == {"start": "22:00", "end": "06:00"}
    with pytest.raises(InvalidSchedule) as missing_end:
        schedule_from_form("daily at 01:00", "22:00", "")
    with pytest.raises(InvalidSchedule) as bad_time:
        schedule_from_form("daily at 01:00", "25:00", "06:00")
    assert missing_end.value.field == "window.end" and bad_time.value.field == "window.start"


def test_unreadable_text_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidSchedule) as unreadable:
        schedule_from_form("whenever", "", "")
    assert unreadable.value.field == "schedule"


def test_a_stored_schedule_is_shown_as_text_that_reads_back_to_it() -> None:
    document = {
        "kind": "interval",
        "every": 60,
        "unit": "days",
        "start": "2026-03-02",
        "at": "02:00",
        "timezone": "UTC",
        "window": {"start": "22:00", "end": "06:00"},
    }

    text, start, end = schedule_for_display(document)

    assert text == "every 60 days at 02:00 starting 2026-03-02"
    assert (start, end) == ("22:00", "06:00")
    assert schedule_from_form(text, start, end) == document
    assert schedule_for_display({"kind": "nonsense"})[0] == "{'kind': 'nonsense'}"


def test_a_stored_schedule_is_described_in_the_pages_language() -> None:
    document = schedule_from_form("every 60 days at 02:00", "", "")
    with using_language("es"):
        spanish = schedule_in_words(document)
    with using_language("en"):
        english = schedule_in_words(document)
    assert (spanish, english) == ("cada 60 días a las 02:00", "every 60 days at 02:00")
