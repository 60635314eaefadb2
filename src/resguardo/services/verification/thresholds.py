"""The thresholds of a backup's comparison with its job's last successful run, and where they come from.

Each data category has its own (seeded by catalog migration 0008, kept equal to
:data:`CATEGORY_THRESHOLDS` by a test); a job may override any of them (NULL: its category's).

=====================  ===========  ============  ======================
category               size change  files change  days a dump may repeat
=====================  ===========  ============  ======================
databases              ±30 %        ±30 %         3
source-code            ±30 %        ±30 %         3
server-configuration   ±50 %        ±50 %         3
images                 ±50 %        ±50 %         3
documents              ±30 %        ±30 %         3
web-publishing         ±50 %        ±50 %         3
=====================  ===========  ============  ======================

Configuration, images and web sites change by whole pieces between backups 60 days (or a week) apart,
so a larger swing is usual there; a database dumped daily that does not change for 3 days says
nobody writes to it any more.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from resguardo.core.thresholds import THRESHOLD_FIELDS


@dataclass(frozen=True)
class Thresholds:
    """When a backup's comparison with the last one warns.

    Attributes:
        size_change_percent: a change of the bytes read (or of a dump's, or a table's, size or rows)
            of at least this many percent, up or down.
        file_count_change_percent: a change of the number of files of at least this many percent.
        unchanged_dump_days: a database dump byte-identical for at least this many days (0: never).
    """

    size_change_percent: int = 30
    file_count_change_percent: int = 30
    unchanged_dump_days: int = 3


CATEGORY_THRESHOLDS: MappingProxyType[str, Thresholds] = MappingProxyType(
    {
        "databases": Thresholds(30, 30, 3),
        "source-code": Thresholds(30, 30, 3),
        "server-configuration": Thresholds(50, 50, 3),
        "images": Thresholds(50, 50, 3),
        "documents": Thresholds(30, 30, 3),
        "web-publishing": Thresholds(50, 50, 3),
    }
)


class _WithThresholds(Protocol):
    """A catalog job or category: its thresholds, read only."""

    @property
    def size_change_percent(self) -> int | None: ...

    @property
    def file_count_change_percent(self) -> int | None: ...

    @property
    def unchanged_dump_days(self) -> int | None: ...


def thresholds_of(job: _WithThresholds, category: _WithThresholds) -> Thresholds:
    """Return a job's thresholds: each its own when set, else its category's, else the built-in default.

    Args:
        job: a catalog job (its threshold columns may be None).
        category: the job's category.
    """
    default = Thresholds()
    values = {}
    for name in THRESHOLD_FIELDS:
        own, inherited = getattr(job, name), getattr(category, name)
        values[name] = (
            own if own is not None else inherited if inherited is not None else getattr(default, name)
        )
    return Thresholds(**values)


__all__ = ["CATEGORY_THRESHOLDS", "Thresholds", "thresholds_of"]
