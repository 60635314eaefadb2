"""The recurrence rules of a schedule: which local dates (or instants) have a slot.

A calendar rule (daily, weekly, monthly) and an interval in days or weeks name local dates, each with one
slot at the rule's time of day; an interval in minutes or hours steps through absolute time from its
anchor. Every rule answers two questions cheaply, without walking slot by slot: the first slot after an
instant and the last slot at or before one (see ``Schedule`` in schedules.py).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time, timedelta
from enum import StrEnum

WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
LAST_DAY = "last"
LATEST_MONTHLY_DAY = 31  # a day a month lacks means that month's last day


class IntervalUnit(StrEnum):
    """The unit of an interval rule; minutes and hours are absolute time, days and weeks local dates."""

    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"


@dataclass(frozen=True)
class IntervalRule:
    """A slot every ``every`` ``unit``, counted from ``start`` at the schedule's time of day.

    Attributes:
        every: how many units between two slots (at least 1).
        unit: minutes, hours, days or weeks.
        start: the local date of the first slot (the anchor that keeps "every 60 days" stable).
    """

    every: int
    unit: IntervalUnit
    start: date

    @property
    def step(self) -> timedelta:
        """Return the time between two slots."""
        return timedelta(**{str(self.unit): self.every})

    @property
    def counts_dates(self) -> bool:
        """Return whether slots fall on local dates (days, weeks) rather than on absolute instants."""
        return self.unit in (IntervalUnit.DAYS, IntervalUnit.WEEKS)

    def date_on_or_after(self, day: date) -> date:
        """Return the first slot date on or after ``day`` (only when ``counts_dates``)."""
        if day <= self.start:
            return self.start
        step_days = self.step.days
        steps = -(-(day - self.start).days // step_days)
        return self.start + timedelta(days=steps * step_days)

    def date_on_or_before(self, day: date) -> date | None:
        """Return the last slot date on or before ``day``, None before ``start`` (for ``counts_dates``)."""
        if day < self.start:
            return None
        step_days = self.step.days
        return self.start + timedelta(days=(day - self.start).days // step_days * step_days)


@dataclass(frozen=True)
class DailyRule:
    """A slot every day."""

    def date_on_or_after(self, day: date) -> date:
        """Return ``day``: every date has a slot."""
        return day

    def date_on_or_before(self, day: date) -> date | None:
        """Return ``day``: every date has a slot."""
        return day


@dataclass(frozen=True)
class WeeklyRule:
    """A slot on each of the given weekdays (0 = Monday ... 6 = Sunday).

    Attributes:
        weekdays: the weekday numbers, sorted, without repeats, at least one.
    """

    weekdays: tuple[int, ...]

    def date_on_or_after(self, day: date) -> date:
        """Return the first date on or after ``day`` that falls on one of the weekdays."""
        return day + timedelta(days=min((weekday - day.weekday()) % 7 for weekday in self.weekdays))

    def date_on_or_before(self, day: date) -> date | None:
        """Return the last date on or before ``day`` that falls on one of the weekdays."""
        return day - timedelta(days=min((day.weekday() - weekday) % 7 for weekday in self.weekdays))


@dataclass(frozen=True)
class MonthlyRule:
    """A slot on each of the given days of every month: day numbers from 1 to 31, and/or the last day.

    A day the month lacks (the 30th in February) means that month's last day, so a monthly backup never
    skips a short month; two days that fall on the same date that way give one slot.

    Attributes:
        days: the days of the month (1-31, or ``LAST_DAY``), at least one, without repeats, numbers in
            increasing order and ``LAST_DAY`` at the end (``MonthlyRule.of`` sorts them so).
    """

    days: tuple[int | str, ...]

    @classmethod
    def of(cls, days: Iterable[int | str]) -> MonthlyRule:
        """Return the rule for ``days`` (numbers or ``LAST_DAY``) in canonical order, repeats removed."""
        unique = set(days)
        numbers = sorted(day for day in unique if isinstance(day, int))
        named = [day for day in (LAST_DAY,) if day in unique]
        others = [day for day in unique if not isinstance(day, int) and day != LAST_DAY]
        return cls(tuple([*numbers, *named, *others]))

    def _dates_in_month(self, year: int, month: int) -> list[date]:
        """Return the slot dates of the given month, in order."""
        length = calendar.monthrange(year, month)[1]
        numbers = {length if day == LAST_DAY else min(int(day), length) for day in self.days}
        return [date(year, month, number) for number in sorted(numbers)]

    def date_on_or_after(self, day: date) -> date:
        """Return the first slot date on or after ``day``: this month's, else next month's first."""
        later = [candidate for candidate in self._dates_in_month(day.year, day.month) if candidate >= day]
        if later:
            return later[0]
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
        return self._dates_in_month(year, month)[0]

    def date_on_or_before(self, day: date) -> date | None:
        """Return the last slot date on or before ``day``: this month's, else last month's last."""
        earlier = [candidate for candidate in self._dates_in_month(day.year, day.month) if candidate <= day]
        if earlier:
            return earlier[-1]
        year, month = (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)
        return self._dates_in_month(year, month)[-1]


Rule = IntervalRule | DailyRule | WeeklyRule | MonthlyRule


def format_time(value: time) -> str:
    """Return ``value`` as ``HH:MM``."""
    return f"{value.hour:02d}:{value.minute:02d}"
