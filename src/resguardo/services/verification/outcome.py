"""What a verification hands back to the runner that records it: :class:`VerificationOutcome`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from resguardo.catalog import VerificationState

MAX_LISTED = 100
"""At most this many problems, paths or files are listed in a verification's evidence."""


@dataclass(frozen=True)
class VerificationProgress:
    """How far a running verification has come (sent with its heartbeats)."""

    bytes_read: int = 0
    packs_read: int = 0
    files_restored: int = 0


ProgressReporter = Callable[[VerificationProgress], None]
"""Receives progress; may raise to stop the verification (it was taken from this worker)."""


@dataclass
class VerificationOutcome:
    """How a verification ended: its state, a one-line summary, the evidence and what it read."""

    state: VerificationState
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    bytes_read: int = 0
    packs_read: int = 0
    files_restored: int = 0
    snapshot_id: str | None = None
    run_id: int | None = None
    scrub_progress: dict[str, Any] | None = None


def state_of(problems: list[str], warnings: list[str]) -> VerificationState:
    """Return failed when there are problems, warnings when only warnings, else passed."""
    if problems:
        return VerificationState.FAILED
    return VerificationState.WARNINGS if warnings else VerificationState.PASSED
