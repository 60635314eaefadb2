"""The report of a connectivity and feasibility test: checked items and their summary.

Each item says what was checked (``check``), on what (``target``), how it went (``status``: ok,
warning, failed or skipped), what was found (``detail``) and, when it did not go well, what to do
(``fix``). ``data`` holds figures (sizes, free space) for programs. A report never holds a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OK = "ok"
WARNING = "warning"
FAILED = "failed"
SKIPPED = "skipped"
STATUSES = (OK, WARNING, FAILED, SKIPPED)


@dataclass
class Item:
    """One checked item of a report (see the module's documentation)."""

    check: str
    target: str
    status: str
    detail: str = ""
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """Return the item as a JSON-ready dictionary."""
        document: dict[str, Any] = {
            "check": self.check,
            "target": self.target,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
        }
        if self.data:
            document["data"] = dict(self.data)
        return document


@dataclass
class Report:
    """The items of one test, in the order they were checked."""

    client: str
    items: list[Item] = field(default_factory=list)

    def add(
        self,
        check: str,
        target: str,
        status: str,
        detail: str = "",
        fix: str = "",
        **data: Any,
    ) -> Item:
        """Append an item and return it."""
        item = Item(check, target, status, detail, fix, data)
        self.items.append(item)
        return item

    def summary(self) -> dict[str, Any]:
        """Return how many items ended in each status, and the overall result (the worst status)."""
        counts = {status: sum(item.status == status for item in self.items) for status in STATUSES}
        result = FAILED if counts[FAILED] else WARNING if counts[WARNING] else OK
        estimated = [item.data for item in self.items if item.check == "estimated size"]
        return {
            **counts,
            "result": result,
            "estimated_bytes": sum(int(data.get("bytes", 0)) for data in estimated),
            "estimate_is_lower_bound": any(bool(data.get("lower_bound")) for data in estimated),
        }

    def document(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dictionary: client, items and summary."""
        return {
            "client": self.client,
            "items": [item.document() for item in self.items],
            "summary": self.summary(),
        }


def human_size(size: int) -> str:
    """Return ``size`` bytes as text with a binary unit (``1.5 GiB``)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns
