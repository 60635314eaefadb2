"""The bounds of the verification thresholds a category or a job stores (R12), checked before they are.

A change threshold (``size_change_percent``, ``file_count_change_percent``) is from 1 to 1000 percent;
``unchanged_dump_days`` from 0 (never warn) to 365. A job's may also be None: its category's applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resguardo.core.errors import UsageError

MIN_PERCENT, MAX_PERCENT = 1, 1000
MIN_DAYS, MAX_DAYS = 0, 365
THRESHOLD_FIELDS = ("size_change_percent", "file_count_change_percent", "unchanged_dump_days")


def threshold_bounds(name: str) -> tuple[int, int]:
    """Return the lowest and highest value of the threshold ``name`` (one of :data:`THRESHOLD_FIELDS`)."""
    return (MIN_DAYS, MAX_DAYS) if name == "unchanged_dump_days" else (MIN_PERCENT, MAX_PERCENT)


def check_thresholds(values: Mapping[str, Any], *, optional: bool) -> None:
    """Check the thresholds among ``values`` (other keys are ignored).

    Args:
        values: field name → value.
        optional: whether None is allowed (a job's: its category's applies).

    Raises:
        UsageError: a value is not a whole number within its bounds; its ``api_field`` names it.
    """
    for name in THRESHOLD_FIELDS:
        if name not in values or (values[name] is None and optional):
            continue
        value = values[name]
        low, high = threshold_bounds(name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            error = UsageError(
                f"{name} must be a whole number from {low} to {high}, not {value!r}",
                "leave it empty to use the category's" if optional else "",
            )
            setattr(error, "api_field", name)  # noqa: B010 (read by the API's error handler)
            raise error


__all__ = [
    "MAX_DAYS",
    "MAX_PERCENT",
    "MIN_DAYS",
    "MIN_PERCENT",
    "THRESHOLD_FIELDS",
    "check_thresholds",
    "threshold_bounds",
]
