"""The category defaults of R8."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from resguardo.catalog import create_catalog_engine, session_factory, upgrade
from resguardo.catalog.models import Category as CategoryRow
from resguardo.jobs import CATEGORY_DEFAULTS, Category, InvalidSchedule, format_schedule_text
from resguardo.jobs.categories import CATEGORY_ANCHOR, DATABASES_DEFAULT, SOURCE_CODE_DEFAULT
from resguardo.schedules import schedule_from_dict


def test_every_category_has_a_default() -> None:
    assert set(CATEGORY_DEFAULTS) == set(Category)


@pytest.mark.parametrize(
    ("category", "text", "full"),
    [
        (Category.DATABASES, "daily at 01:00 in UTC", False),
        (Category.SOURCE_CODE, "weekly on sunday at 02:00 in UTC", True),
        (Category.SERVER_CONFIGURATION, "every 60 days at 02:00 starting 2025-01-05 in UTC", False),
        (Category.IMAGES, "every 60 days at 03:00 starting 2025-01-05 in UTC", False),
        (Category.DOCUMENTS, "every 60 days at 04:00 starting 2025-01-05 in UTC", False),
        (Category.WEB_PUBLISHING, "weekly on saturday at 03:00 in UTC", False),
    ],
)
def test_category_defaults_are_the_periodicities_of_r8(category: Category, text: str, full: bool) -> None:
    default = CATEGORY_DEFAULTS[category]
    assert format_schedule_text(default.schedule) == text
    assert default.full is full


def test_default_moves_to_the_institutions_zone_and_start_date() -> None:
    schedule = CATEGORY_DEFAULTS[Category.SERVER_CONFIGURATION].schedule_in(
        "America/Bogota", start=date(2025, 6, 1)
    )
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


def test_the_defaults_are_those_the_catalog_seeds_its_categories_with(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    upgrade(url)
    engine = create_catalog_engine(url)
    with session_factory(engine)() as session:
        seeded = {
            category.name: category.default_schedule for category in session.scalars(select(CategoryRow))
        }
    engine.dispose()

    for category, default in CATEGORY_DEFAULTS.items():
        stored = schedule_from_dict(seeded[category.value.replace("_", "-")], default_start=CATEGORY_ANCHOR)
        assert (stored.rule, stored.at, stored.timezone) == (
            default.schedule.rule,
            default.schedule.at,
            default.schedule.timezone,
        ), category
