"""The schedule operators type on the command line: the text form or the dict form written as JSON."""

from __future__ import annotations

import json
from typing import Any

from resguardo.schedules.documents import checked_schedule_document
from resguardo.schedules.specification import InvalidSchedule
from resguardo.schedules.text import schedule_text_document


def parse_schedule_argument(text: str, *, timezone: str = "UTC") -> dict[str, Any]:
    """Return the dict form of a schedule given as text ("every 60 days at 02:00") or as a JSON object.

    Args:
        text: the argument; a JSON object when it starts with ``{``, else the text form (docs/scheduling.md).
        timezone: the zone of a text that names none.

    Returns:
        The canonical dict form; an interval without a start date keeps none (the catalog anchors it).

    Raises:
        InvalidSchedule: not valid JSON, not readable, or an impossible schedule; ``field`` names the culprit.
    """
    stripped = text.strip()
    if not stripped.startswith("{"):
        return schedule_text_document(stripped, timezone=timezone)
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError as error:
        raise InvalidSchedule(
            "schedule",
            f"not valid JSON: {error.msg} (character {error.pos + 1})",
            "write a JSON object, or the text form such as 'every 60 days at 02:00'",
        ) from None
    return checked_schedule_document(document)
