"""Subsets of packs for a partial data check: parsing ``"N%"`` and ``"n/t"`` and choosing the packs.

This module owns :class:`PackSubset` and :func:`parse_subset`: a random percentage of the packs,
drawn afresh each time, or group n of t chosen by pack ID alone, so that groups 1/t .. t/t read every
pack exactly once between them.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from resguardo.core.errors import ConfigurationError

_PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")
_GROUP = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True, slots=True)
class PackSubset:
    """Which packs a partial data check reads: a random ``percent``, or group ``group`` of ``groups``."""

    text: str
    percent: float | None = None
    group: int = 0
    groups: int = 0

    def select(self, pack_ids: Iterable[bytes]) -> list[bytes]:
        """Return the chosen packs among ``pack_ids``.

        Groups are chosen by pack ID alone, so 1/t, 2/t, ... t/t read every pack exactly once
        between them; a percentage is drawn at random each time, and rounded up.
        """
        candidates = sorted(pack_ids)
        if self.percent is not None:
            count = min(len(candidates), math.ceil(len(candidates) * self.percent / 100))
            return sorted(secrets.SystemRandom().sample(candidates, count))
        return [
            pack_id
            for pack_id in candidates
            if int.from_bytes(pack_id[:8], "big") % self.groups == self.group - 1
        ]


def parse_subset(text: str) -> PackSubset:
    """Parse a subset of packs: ``"N%"`` (0 < N <= 100) or ``"n/t"`` (1 <= n <= t).

    Raises:
        ConfigurationError: the text is neither form, or a number is out of range.
    """
    hint = "give a percentage such as 10% or a group such as 1/7 (then 2/7, ... 7/7 on later runs)"
    percent = _PERCENT.fullmatch(text)
    if percent is not None:
        value = float(percent.group(1))
        if not 0 < value <= 100:
            raise ConfigurationError(f"subset {text!r} must be more than 0% and at most 100%", hint)
        return PackSubset(text, percent=value)
    group = _GROUP.fullmatch(text)
    if group is not None:
        number, total = int(group.group(1)), int(group.group(2))
        if not 1 <= number <= total:
            raise ConfigurationError(f"subset {text!r} must be n/t with 1 <= n <= t", hint)
        return PackSubset(text, group=number, groups=total)
    raise ConfigurationError(f"{text!r} is not a subset of packs", hint)


__all__ = ["PackSubset", "parse_subset"]
