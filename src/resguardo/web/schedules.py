"""A job's schedule in the console: the text an operator types (``every 60 days at 02:00``) and a backup
window become the catalog's schedule document; a stored document is shown as that text again, or in
words of the page's language.

The schedule form itself is :mod:`resguardo.schedules`; this module only joins the form's three fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from resguardo.schedules import (
    InvalidSchedule,
    checked_schedule_document,
    describe_schedule,
    format_schedule_text,
    parse_schedule_text,
    schedule_from_dict,
    schedule_text_document,
)
from resguardo.web.i18n import current_language


def schedule_from_form(text: str, window_start: str, window_end: str) -> dict[str, Any]:
    """Return the catalog's schedule document for the schedule text and window of the job form.

    Args:
        text: the schedule as operators write it (docs/scheduling.md), e.g. ``weekly on sunday at 03:00``;
            an interval without ``starting`` counts from the day the schedule takes effect.
        window_start, window_end: the backup window (``HH:MM``), both empty for none (a window written
            in the text is kept then).

    Raises:
        InvalidSchedule: the text or the window cannot be read (``field`` names which: ``schedule``,
            ``window.start`` ...).
    """
    document = schedule_text_document(text)
    window = _window(window_start, window_end)
    if window is not None:
        document["window"] = window
    return checked_schedule_document(document)


def _window(start: str, end: str) -> dict[str, str] | None:
    """Return the window document of the form's two fields (None when both are empty)."""
    start, end = start.strip(), end.strip()
    if not start and not end:
        return None
    if not start or not end:
        field = "window.start" if not start else "window.end"
        raise InvalidSchedule(field, "give both the start and the end of the window, or neither")
    parse_schedule_text(f"daily at 00:00 window {start}-{end}")  # checks both times and their order
    return {"start": start, "end": end}


def schedule_for_display(document: dict[str, Any]) -> tuple[str, str, str]:
    """Return a stored schedule as (text without the window, window start, window end) for the job form;
    the text of a document that cannot be read is its raw form."""
    try:
        schedule = schedule_from_dict(document)
    except InvalidSchedule:
        return str(document), "", ""
    start = end = ""
    if schedule.window is not None:
        start, end = f"{schedule.window.start:%H:%M}", f"{schedule.window.end:%H:%M}"
    text = format_schedule_text(dataclasses.replace(schedule, window=None))
    return text.removesuffix(" in UTC"), start, end


def schedule_in_words(document: dict[str, Any]) -> str:
    """Return a stored schedule in words of the page's language (its raw form if it cannot be read)."""
    try:
        return describe_schedule(document, current_language())
    except InvalidSchedule:
        return str(document)


def schedule_text(document: dict[str, Any]) -> str:
    """Return a stored schedule as the one text an operator edits, its window written in it."""
    text, start, end = schedule_for_display(document)
    return f"{text} window {start}-{end}" if start else text
