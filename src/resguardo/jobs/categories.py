"""The data categories of R8 and their default schedules, which every job of a category starts from.

================================  ==========================================  =====
category                          default schedule                            full
================================  ==========================================  =====
databases                         daily at 01:00                              no
source code                       weekly on Sunday at 02:00                   yes
server configuration              every 60 days at 02:00                      no
images                            every 60 days at 03:00                      no
documents                         every 60 days at 04:00                      no
web publishing                    weekly on Saturday at 03:00                 no
================================  ==========================================  =====

"Full" asks the engine to read every file again instead of trusting the parent snapshot (``backup
--force``): with deduplication every snapshot is complete anyway, but a full run re-reads what a changed
file's unchanged timestamp would otherwise hide. The constants are in UTC and anchored on
``CATEGORY_ANCHOR``; ``CategoryDefault.schedule_in`` moves one to the institution's zone and start date.
Defaults are only a starting point: each job's schedule is editable. They are the schedules the catalog
seeds its categories with (migration 0001, names with hyphens there); a test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, time
from enum import StrEnum
from types import MappingProxyType

from resguardo.schedules import DailyRule, IntervalRule, IntervalUnit, Schedule, WeeklyRule, load_zone

CATEGORY_ANCHOR = date(2025, 1, 5)  # a Sunday: the first slot of the 60-day defaults before re-anchoring
SATURDAY, SUNDAY = 5, 6


class Category(StrEnum):
    """A category of data (R8), as stored in the catalog."""

    DATABASES = "databases"
    SOURCE_CODE = "source_code"
    SERVER_CONFIGURATION = "server_configuration"
    IMAGES = "images"
    DOCUMENTS = "documents"
    WEB_PUBLISHING = "web_publishing"


@dataclass(frozen=True)
class CategoryDefault:
    """The default schedule of a category and whether its runs are full.

    Attributes:
        category: the category.
        schedule: the default schedule, in UTC and anchored on ``CATEGORY_ANCHOR``.
        full: whether runs read every file again (the engine's ``backup --force``).
    """

    category: Category
    schedule: Schedule
    full: bool = False

    def schedule_in(self, timezone: str, start: date | None = None) -> Schedule:
        """Return the default schedule at the same local time in ``timezone``, anchored on ``start``.

        Args:
            timezone: an IANA time zone name (the institution's).
            start: the first date of an interval schedule (e.g. the job's creation date); None keeps
                ``CATEGORY_ANCHOR``. Calendar rules ignore it.

        Raises:
            InvalidSchedule: ``timezone`` is unknown.
        """
        load_zone(timezone)
        rule = self.schedule.rule
        if start is not None and isinstance(rule, IntervalRule):
            rule = replace(rule, start=start)
        return Schedule(rule=rule, at=self.schedule.at, timezone=timezone, window=self.schedule.window)


def _every_60_days(hour: int) -> Schedule:
    return Schedule(rule=IntervalRule(60, IntervalUnit.DAYS, CATEGORY_ANCHOR), at=time(hour, 0))


DATABASES_DEFAULT = CategoryDefault(Category.DATABASES, Schedule(rule=DailyRule(), at=time(1, 0)))
SOURCE_CODE_DEFAULT = CategoryDefault(
    Category.SOURCE_CODE, Schedule(rule=WeeklyRule((SUNDAY,)), at=time(2, 0)), full=True
)
SERVER_CONFIGURATION_DEFAULT = CategoryDefault(Category.SERVER_CONFIGURATION, _every_60_days(2))
IMAGES_DEFAULT = CategoryDefault(Category.IMAGES, _every_60_days(3))
DOCUMENTS_DEFAULT = CategoryDefault(Category.DOCUMENTS, _every_60_days(4))
WEB_PUBLISHING_DEFAULT = CategoryDefault(
    Category.WEB_PUBLISHING, Schedule(rule=WeeklyRule((SATURDAY,)), at=time(3, 0))
)

CATEGORY_DEFAULTS: MappingProxyType[Category, CategoryDefault] = MappingProxyType(
    {
        default.category: default
        for default in (
            DATABASES_DEFAULT,
            SOURCE_CODE_DEFAULT,
            SERVER_CONFIGURATION_DEFAULT,
            IMAGES_DEFAULT,
            DOCUMENTS_DEFAULT,
            WEB_PUBLISHING_DEFAULT,
        )
    }
)
