"""Durations of retention policies, such as ``2y5m7d3h``, counted on the calendar.

A duration is a number of years, months, days and hours. It is subtracted from a moment the way a
person counts on a calendar: years and months first (``2026-03-31`` minus ``1m`` is ``2026-02-28``,
the day clamped to the last day of the shorter month; ``2028-02-29`` minus ``1y`` is ``2027-02-28``),
then days and hours. ``1y`` is therefore one calendar year, 365 or 366 days, never a fixed count.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from resguardo.core.errors import UsageError

_UNITS = ("y", "m", "d", "h")
_WHOLE = re.compile(r"(?:[0-9]+[ymdh])+")
_PART = re.compile(r"([0-9]+)([ymdh])")
_HINT = "write a duration as numbers with units y (years), m (months), d (days), h (hours), e.g. 1y6m or 30d"


@dataclass(frozen=True, slots=True)
class Duration:
    """A calendar duration: years, months, days and hours (each zero or more)."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    def __str__(self) -> str:
        """Return the duration as it is written, e.g. ``1y6m`` (``0h`` when zero)."""
        amounts = (self.years, self.months, self.days, self.hours)
        text = "".join(f"{amount}{unit}" for amount, unit in zip(amounts, _UNITS, strict=True) if amount)
        return text or "0h"

    @property
    def is_zero(self) -> bool:
        """True when every part is zero."""
        return not (self.years or self.months or self.days or self.hours)

    def before(self, moment: datetime) -> datetime | None:
        """Return ``moment`` minus this duration, on the calendar of ``moment``'s own time zone.

        Returns None when the result would fall before the year 1 (every moment is later than that).
        """
        month_number = moment.year * 12 + moment.month - 1 - (self.years * 12 + self.months)
        year, month_index = divmod(month_number, 12)
        if year < 1:
            return None
        day = min(moment.day, calendar.monthrange(year, month_index + 1)[1])
        try:
            shifted = moment.replace(year=year, month=month_index + 1, day=day)
            return shifted - timedelta(days=self.days, hours=self.hours)
        except OverflowError:
            return None


def parse_duration(text: str) -> Duration:
    """Parse a duration such as ``2y5m7d3h``, ``30d`` or ``12h`` (units in any order, each at most once).

    Raises:
        UsageError: the text is not a duration, names a unit twice, or is zero.
    """
    written = text.strip()
    if not _WHOLE.fullmatch(written):
        raise UsageError(f"{text!r} is not a duration", _HINT)
    amounts: dict[str, int] = {}
    for number, unit in _PART.findall(written):
        if unit in amounts:
            raise UsageError(f"the duration {text!r} gives '{unit}' twice", _HINT)
        amounts[unit] = int(number)
    duration = Duration(
        years=amounts.get("y", 0),
        months=amounts.get("m", 0),
        days=amounts.get("d", 0),
        hours=amounts.get("h", 0),
    )
    if duration.is_zero:
        raise UsageError(f"the duration {text!r} is zero and would keep nothing", _HINT)
    return duration
