"""Schedule specifications: when a job's runs are due, in which time zone, and in which backup window.

A ``Schedule`` is a recurrence rule (an interval, or a daily, weekly or monthly calendar rule) at a time of
day in a named time zone, with an optional backup window outside which a run does not start (R9). It
answers the scheduler's questions in constant time: the first slot after an instant, the last slot at or
before one, and the earliest instant at or after one at which the window lets a run start.

Schedules are built directly, from a JSON-able dict (``schedule_from_dict`` / ``schedule_to_dict`` in
documents.py, the one form the catalog stores and the API accepts) or from the text operators write
(``parse_schedule_text`` / ``format_schedule_text`` in text.py). Every invalid value raises
``InvalidSchedule`` (a ``ConfigurationError``) whose ``field`` names the culprit. The syntax is
documented in docs/scheduling.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from resguardo.core.errors import ConfigurationError
from resguardo.schedules._localtime import local_date, local_time, resolve_wall_time
from resguardo.schedules._rules import (
    LAST_DAY,
    LATEST_MONTHLY_DAY,
    DailyRule,
    IntervalRule,
    IntervalUnit,
    MonthlyRule,
    Rule,
    WeeklyRule,
)

MAXIMUM_INTERVAL = timedelta(days=3660)  # ten years: longer is surely a typing mistake
MINIMUM_INTERVAL = timedelta(minutes=1)


class InvalidSchedule(ConfigurationError):
    """A schedule specification is impossible or malformed.

    Args:
        field: the name of the offending field (``at``, ``window.end``, ``every``, ...), for forms and
            API answers that point at it.
        message: one line saying what is wrong.
        hint: what to write instead.
    """

    def __init__(self, field: str, message: str, hint: str | None = None) -> None:
        where = "schedule" if field == "schedule" else f"schedule field '{field}'"
        super().__init__(f"{where}: {message}", hint)
        self.field = field


@dataclass(frozen=True)
class Window:
    """A daily span of local time in which runs may start; ``end`` before ``start`` crosses midnight.

    A run does not start outside the window; one that started inside may run past ``end``. The window is
    half-open: a run may start at ``start`` but not at ``end``.

    Raises:
        InvalidSchedule: ``start`` equals ``end`` (a window of zero length).
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        if (self.start.hour, self.start.minute) == (self.end.hour, self.end.minute):
            raise InvalidSchedule(
                "window.end",
                f"the window {self.start:%H:%M}-{self.end:%H:%M} has zero length",
                "give an end different from the start (22:00-06:00 crosses midnight), or no window",
            )

    def contains(self, wall_time: time) -> bool:
        """Return whether a run may start at the local ``wall_time``."""
        if self.start < self.end:
            return self.start <= wall_time < self.end
        return wall_time >= self.start or wall_time < self.end


@dataclass(frozen=True)
class Schedule:
    """When a job runs: a rule, at a local time of day, in a time zone, within an optional window.

    Attributes:
        rule: an ``IntervalRule``, ``DailyRule``, ``WeeklyRule`` or ``MonthlyRule``.
        at: the local time of day of each slot (for intervals in minutes or hours, of the anchor slot).
        timezone: an IANA time zone name such as ``America/Bogota``; DST is followed: a time that does
            not exist runs at the next valid instant, an ambiguous one once (at its first occurrence).
        window: the backup window, or None to start runs at any time.

    Raises:
        InvalidSchedule: an unknown time zone, or a rule that can never or always run.
    """

    rule: Rule
    at: time = time(0, 0)
    timezone: str = "UTC"
    window: Window | None = None
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", load_zone(self.timezone))
        if self.at.second or self.at.microsecond or self.at.tzinfo is not None:
            raise InvalidSchedule("at", f"{self.at} must be a plain local time in whole minutes", "HH:MM")
        _validate_rule(self.rule)

    def first_slot_after(self, instant: datetime) -> datetime:
        """Return the first slot strictly after ``instant`` (timezone-aware), in UTC."""
        rule = self.rule
        if isinstance(rule, IntervalRule) and not rule.counts_dates:
            anchor = resolve_wall_time(rule.start, self.at, self.zone)
            if instant < anchor:
                return anchor
            return anchor + ((instant - anchor) // rule.step + 1) * rule.step
        day = local_date(instant, self.zone)
        while True:
            day = rule.date_on_or_after(day)
            slot = resolve_wall_time(day, self.at, self.zone)
            if slot > instant:
                return slot
            day += timedelta(days=1)

    def last_slot_at_or_before(self, instant: datetime) -> datetime | None:
        """Return the last slot at or before ``instant`` (timezone-aware) in UTC, None if there is none."""
        rule = self.rule
        if isinstance(rule, IntervalRule) and not rule.counts_dates:
            anchor = resolve_wall_time(rule.start, self.at, self.zone)
            if instant < anchor:
                return None
            return anchor + ((instant - anchor) // rule.step) * rule.step
        day: date | None = local_date(instant, self.zone)
        while day is not None:
            day = rule.date_on_or_before(day)
            if day is None:
                return None
            slot = resolve_wall_time(day, self.at, self.zone)
            if slot <= instant:
                return slot
            day -= timedelta(days=1)
        return None

    def window_allows(self, instant: datetime) -> bool:
        """Return whether the backup window lets a run start at ``instant`` (True without a window)."""
        return self.window is None or self.window.contains(local_time(instant, self.zone))

    def earliest_start(self, instant: datetime) -> datetime:
        """Return ``instant`` if the window allows a start then, else the moment the window next opens."""
        if self.window is None or self.window_allows(instant):
            return instant
        day = local_date(instant, self.zone)
        while True:  # a window inside the hour the clocks skip does not open that night: try the next
            opening = resolve_wall_time(day, self.window.start, self.zone)
            if opening > instant and self.window_allows(opening):
                return opening
            day += timedelta(days=1)


def load_zone(name: str) -> ZoneInfo:
    """Return the time zone called ``name`` (IANA, e.g. ``America/Guatemala``).

    Raises:
        InvalidSchedule: no such time zone on this system.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidSchedule(
            "timezone",
            f"unknown time zone {name!r}",
            "use an IANA name such as America/Bogota, Europe/Madrid or UTC",
        ) from error


def _validate_rule(rule: Rule) -> None:
    """Raise ``InvalidSchedule`` naming the field if ``rule`` is impossible."""
    if isinstance(rule, IntervalRule):
        if not isinstance(rule.every, int) or isinstance(rule.every, bool) or rule.every < 1:
            raise InvalidSchedule(
                "every", f"{rule.every!r} is not a positive whole number", "1 or more, e.g. 'every 6 hours'"
            )
        try:
            step = rule.step
        except OverflowError:
            step = MAXIMUM_INTERVAL * 2
        if not MINIMUM_INTERVAL <= step <= MAXIMUM_INTERVAL:
            raise InvalidSchedule("every", f"every {rule.every} {rule.unit} is longer than ten years")
    elif isinstance(rule, WeeklyRule):
        if not rule.weekdays or any(day not in range(7) for day in rule.weekdays):
            raise InvalidSchedule("weekdays", "name at least one weekday", "weekly on sunday at 03:00")
    elif isinstance(rule, MonthlyRule):
        _validate_month_days(rule.days)


def _validate_month_days(days: tuple[int | str, ...]) -> None:
    """Raise ``InvalidSchedule`` naming ``days`` unless ``days`` are days of the month (1-31 or "last")."""
    if not isinstance(days, tuple):
        raise InvalidSchedule("days", f"expected a tuple of days, got {days!r}", "MonthlyRule((1, 15))")
    if not days:
        raise InvalidSchedule("days", "name at least one day of the month", 'e.g. [1, 15] or ["last"]')
    for day in days:
        if day == LAST_DAY:
            continue
        if not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= LATEST_MONTHLY_DAY:
            raise InvalidSchedule(
                "days",
                f"{day!r} is not a day of the month",
                f"choose days from 1 to {LATEST_MONTHLY_DAY} (a day a month lacks means its last day), "
                "or 'last'",
            )


__all__ = [
    "LAST_DAY",
    "DailyRule",
    "IntervalRule",
    "IntervalUnit",
    "InvalidSchedule",
    "MonthlyRule",
    "Rule",
    "Schedule",
    "WeeklyRule",
    "Window",
    "load_zone",
]
