"""Retention of a job as a document: which snapshots to keep, in the engine's ``keep_*`` terms.

    {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12, "keep_within": "1y"}

The counted rules (``keep_last``, ``keep_hourly`` ... ``keep_yearly``) take whole numbers; ``keep_within``
a duration such as ``30d``, ``6m`` or ``1y``. At least one rule must keep something. How long the
catalog keeps its own records of a job's runs is the job's ``records_keep_days`` (at least 365, R21).
"""

from __future__ import annotations

import re
from typing import Any

from resguardo.core.errors import ConfigurationError

COUNTED_RULES = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")
DURATION_RULES = ("keep_within",)
_DURATION = re.compile(r"^(\d+y)?(\d+m)?(\d+d)?(\d+h)?$")


def _fail(message: str) -> ConfigurationError:
    return ConfigurationError(f"invalid retention: {message}", "see the retention rules in docs/catalog.md")


def validated_retention(document: Any) -> dict[str, Any]:
    """Return ``document`` after checking it is a valid retention (unchanged, ready to store).

    Raises:
        ConfigurationError: an unknown rule, a count that is not a whole number >= 0, a malformed
            duration, or no rule keeping anything.
    """
    if not isinstance(document, dict):
        raise _fail("it must be an object of keep_* rules")
    unknown = set(document) - set(COUNTED_RULES) - set(DURATION_RULES)
    if unknown:
        raise _fail(f"unknown rule(s): {', '.join(sorted(unknown))}")
    for rule in COUNTED_RULES:
        value = document.get(rule, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _fail(f"{rule} must be a whole number >= 0")
    for rule in DURATION_RULES:
        value = document.get(rule)
        if value is not None and (not isinstance(value, str) or not value or not _DURATION.match(value)):
            raise _fail(f"{rule} must be a duration such as 30d, 6m or 1y")
    if not any(document.get(rule) for rule in (*COUNTED_RULES, *DURATION_RULES)):
        raise _fail("no rule keeps anything: give at least one keep_* rule")
    return dict(document)
