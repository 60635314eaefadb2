"""A schedule in words, in English or Spanish, for the console and ``resguardo job show``.

``describe_schedule({"kind": "interval", "every": 60, "unit": "days", "at": "02:00"}, "es")`` gives
"cada 60 días a las 02:00"; in English, "every 60 days at 02:00". Unlike the text form (text.py), which
is for writing schedules and reads back, the description is for reading only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from resguardo.schedules._rules import LAST_DAY, WEEKDAY_NAMES
from resguardo.schedules.documents import checked_schedule_document

LANGUAGES = ("en", "es")
_WEEKDAYS = {
    "en": tuple(name.capitalize() for name in WEEKDAY_NAMES),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábados", "domingos"),
}
_UNITS = {  # unit: (English one, English several, Spanish one, Spanish several)
    "minutes": ("minute", "minutes", "minuto", "minutos"),
    "hours": ("hour", "hours", "hora", "horas"),
    "days": ("day", "days", "día", "días"),
    "weeks": ("week", "weeks", "semana", "semanas"),
}


def describe_schedule(document: object, language: str, *, default_timezone: str = "UTC") -> str:
    """Return ``document`` (a schedule's dict form) in words.

    Args:
        document: the schedule, as the catalog stores it (an interval's ``start`` may be absent).
        language: "en" or "es"; a locale such as "es_EC" or "en-US" counts as its language, and any other
            language gets English.
        default_timezone: the zone readers assume (e.g. the institution's); another zone is named.

    Returns:
        One line, e.g. "every 60 days at 02:00" or "mensual, los días 1 y 15 a las 01:00 (Europe/Madrid)".

    Raises:
        InvalidSchedule: ``document`` is not a valid schedule.
    """
    schedule = checked_schedule_document(document)
    spanish = language[:2].lower() == "es"
    text = _describe_es(schedule) if spanish else _describe_en(schedule)
    window = schedule["window"]
    if window is not None:
        text += f", {'ventana' if spanish else 'window'} {window['start']}-{window['end']}"
    if schedule["timezone"] != default_timezone:
        text += f" ({schedule['timezone']})"
    return text


def _describe_en(schedule: dict[str, Any]) -> str:
    """Return the English words of a checked schedule, without window or zone."""
    at = f"at {schedule['at']}"
    kind = schedule["kind"]
    if kind == "daily":
        return f"daily {at}"
    if kind == "weekly":
        return f"weekly on {_listed(_names(schedule['weekdays'], 'en'), 'and')} {at}"
    if kind == "monthly":
        return f"monthly on {_month_days_en(schedule['days'])} {at}"
    every, unit = schedule["every"], _UNITS[schedule["unit"]]
    text = f"every {unit[0]}" if every == 1 else f"every {every} {unit[1]}"
    if schedule["unit"] in ("minutes", "hours"):
        text += "" if schedule["at"] == "00:00" else f" from {schedule['at']}"
    else:
        text += f" {at}"
    if "start" in schedule:
        text += f", starting {schedule['start']}"
    return text


def _describe_es(schedule: dict[str, Any]) -> str:
    """Return the Spanish words of a checked schedule, without window or zone."""
    hour = schedule["at"]
    at = f"a la {hour}" if hour.startswith("01:") else f"a las {hour}"
    kind = schedule["kind"]
    if kind == "daily":
        return f"diario {at}"
    if kind == "weekly":
        return f"semanal, los {_listed(_names(schedule['weekdays'], 'es'), 'y')} {at}"
    if kind == "monthly":
        return f"mensual, {_month_days_es(schedule['days'])} {at}"
    every, unit = schedule["every"], _UNITS[schedule["unit"]]
    text = f"cada {unit[2]}" if every == 1 else f"cada {every} {unit[3]}"
    if schedule["unit"] in ("minutes", "hours"):
        text += "" if hour == "00:00" else f" desde {at.removeprefix('a ')}"
    else:
        text += f" {at}"
    if "start" in schedule:
        text += f", desde el {schedule['start']}"
    return text


def _names(weekdays: Sequence[str], language: str) -> list[str]:
    """Return the weekday names of ``language`` for English weekday names."""
    return [_WEEKDAYS[language][WEEKDAY_NAMES.index(name)] for name in weekdays]


def _listed(items: Sequence[str], conjunction: str) -> str:
    """Return "a", "a and b" or "a, b and c" (with ``conjunction``)."""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _month_days_en(days: Sequence[int | str]) -> str:
    """Return "day 15", "the last day", "days 1 and 15" or "days 1, 15 and the last day"."""
    words = [str(day) for day in days if day != LAST_DAY] + (["the last day"] if LAST_DAY in days else [])
    if words == ["the last day"]:
        return words[0]
    return f"{'day' if len(days) == 1 else 'days'} {_listed(words, 'and')}"


def _month_days_es(days: Sequence[int | str]) -> str:
    """Return "el día 15", "el último día", "los días 1 y 15" or "los días 1, 15 y el último día"."""
    words = [str(day) for day in days if day != LAST_DAY] + (["el último día"] if LAST_DAY in days else [])
    if words == ["el último día"]:
        return words[0]
    return f"{'el día' if len(days) == 1 else 'los días'} {_listed(words, 'y')}"
