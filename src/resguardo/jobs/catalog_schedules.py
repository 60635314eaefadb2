"""Read a job's schedule document as the catalog stores it, in either of the two forms in use.

The scheduler's own form (:mod:`resguardo.jobs.schedule_dict`: ``every``/``unit``/``start``, ``daily``,
``weekly`` with ``weekdays``, ``monthly`` with one ``day``) is read as is. The catalog's first form
(:mod:`resguardo.catalog.schedules`: ``every_days``, ``every_minutes``, ``month_days``) is translated:
an interval counts from the date its schedule took effect, and a monthly rule must name a single day
(the scheduler's monthly rule has one; several days need one job each, for now).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from resguardo.jobs.schedule_dict import schedule_from_dict
from resguardo.jobs.schedules import InvalidSchedule, Schedule

_CATALOG_ONLY_FIELDS = ("every_days", "every_minutes", "month_days")


def schedule_of_document(document: Mapping[str, object], effective_since: datetime) -> Schedule:
    """Return the schedule a job's stored document describes.

    Args:
        document: the job's schedule, in the scheduler's form or the catalog's first one.
        effective_since: when the schedule took effect (timezone-aware); the start date of intervals
            written in the catalog's form.

    Raises:
        InvalidSchedule: the document is valid in neither form (``field`` names what is wrong).
    """
    if not any(name in document for name in _CATALOG_ONLY_FIELDS):
        return schedule_from_dict(document)
    return schedule_from_dict(_translated(document, effective_since))


def _translated(document: Mapping[str, object], effective_since: datetime) -> dict[str, object]:
    """Return the scheduler's form of a schedule in the catalog's form."""
    common = {name: document[name] for name in ("at", "timezone", "window") if name in document}
    zone = str(document.get("timezone") or "UTC")
    start = effective_since.astimezone(ZoneInfo(zone)).date().isoformat()
    kind = document.get("kind")
    if kind == "interval" and document.get("every_days"):
        every = document["every_days"]
        if every == 1:
            return {"kind": "daily", **common}
        return {"kind": "interval", "every": every, "unit": "days", "start": start, **common}
    if kind == "interval" and document.get("every_minutes"):
        return {
            "kind": "interval",
            "every": document["every_minutes"],
            "unit": "minutes",
            "start": start,
            **common,
        }
    if kind == "monthly":
        days = document.get("month_days")
        if not isinstance(days, list) or len(days) != 1:
            raise InvalidSchedule(
                "month_days", f"{days!r}: the scheduler runs a monthly rule on one day", "one job per day"
            )
        return {"kind": "monthly", "day": days[0], **common}
    if kind == "weekly":
        return {"kind": "weekly", "weekdays": document.get("weekdays"), **common}
    raise InvalidSchedule("kind", f"{kind!r} with these fields is not a schedule the scheduler reads")
