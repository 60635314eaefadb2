"""The category defaults of R8."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from resguardo.jobs import CATEGORY_DEFAULTS, Category, InvalidSchedule, format_schedule_text
from resguardo.jobs.categories import DATABASES_DEFAULT, SOURCE_CODE_DEFAULT


def test_every_category_has_a_default() -> None:
    assert set(CATEGORY_DEFAULTS) == set(Category)


@pytest.mark.parametrize(
    ("category", "text", "full"),
    [
        (Category.DATABASES, "daily at 01:00 in UTC", False),
        (Category.SOURCE_CODE, "weekly on sunday at 03:00 in UTC", True),
        (Category.SERVER_CONFIGURATION, "every 60 days at 02:00 starting 2025-01-05 in UTC", False),
        (Category.IMAGES, "every 60 days at 02:00 starting 2025-01-05 in UTC", False),
        (Category.DOCUMENTS, "every 60 days at 02:00 starting 2025-01-05 in UTC", False),
        (Category.WEB_PUBLISHING, "daily at 04:00 in UTC", False),
    ],
)
def test_category_defaults_are_the_periodicities_of_r8(category: Category, text: str, full: bool) -> None:
    default = CATEGORY_DEFAULTS[category]
    assert format_schedule_text(default.schedule) == text
    assert default.full is full


def test_default_moves_to_the_institutions_zone_and_start_date() -> None:
    schedule = CATEGORY_DEFAULTS[Category.DOCUMENTS].schedule_in("America/Bogota", start=date(2025, 6, 1))
    assert format_schedule_text(schedule) == "every 60 days at 02:00 starting 2025-06-01 in America/Bogota"
    first = schedule.first_slot_after(datetime(2025, 5, 1, tzinfo=UTC))
    assert first.astimezone(ZoneInfo("America/Bogota")) == datetime(
        2025, 6, 1, 2, 0, tzinfo=ZoneInfo("America/Bogota")
    )
    assert DATABASES_DEFAULT.schedule_in("America/Guatemala").at == time(1, 0)
    assert (
        SOURCE_CODE_DEFAULT.schedule_in("America/Guatemala", start=date(2025, 6, 1)).rule
        == SOURCE_CODE_DEFAULT.schedule.rule
    )


def test_default_in_an_unknown_zone_is_refused() -> None:
    with pytest.raises(InvalidSchedule) as caught:
        DATABASES_DEFAULT.schedule_in("Nowhere/Land")
    assert caught.value.field == "timezone"
