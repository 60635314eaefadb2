"""The verdict on a run's backup: integrity of what it wrote, then the comparison with the last run.

:func:`judge` turns the problems the engine's read-back found
(:func:`resguardo.engine.checker.verify_written`) and the anomalies :func:`.compare.compare` found
into one :class:`Verdict`: ``failed`` when anything written does not read back intact, ``warnings`` when it
does but the comparison found anomalies, ``verified`` otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from resguardo.catalog import Verification
from resguardo.engine.checker import CheckProblem
from resguardo.services.verification.compare import Reason, compare
from resguardo.services.verification.thresholds import Thresholds

MAX_NAMED_PROBLEMS = 20


@dataclass(frozen=True)
class Verdict:
    """What the verification of one run concluded.

    Attributes:
        verification: the verdict.
        reasons: why (empty when verified).
        figures: the run's figures, for the next run's comparison (None: no backup was made).
    """

    verification: Verification
    reasons: list[Reason] = field(default_factory=list)
    figures: dict[str, Any] | None = None

    def documents(self) -> list[dict[str, Any]]:
        """Return the reasons as JSON-ready maps."""
        return [reason.document() for reason in self.reasons]

    def summary(self) -> str:
        """Return the verdict in one line for the run's log and error."""
        if not self.reasons:
            return self.verification.value
        return f"{self.verification.value}: " + "; ".join(reason.message for reason in self.reasons)


NOT_VERIFIED = Verdict(Verification.NOT_VERIFIED)


def integrity_reasons(problems: Sequence[CheckProblem]) -> list[Reason]:
    """Return one reason per object not read back intact (MAX_NAMED_PROBLEMS at most, then a count)."""
    reasons = [
        Reason(
            "integrity_failed",
            f"{problem.kind} {problem.name} written by this backup does not read back intact: "
            f"{problem.message}",
            {"kind": problem.kind, "name": problem.name},
        )
        for problem in problems[:MAX_NAMED_PROBLEMS]
    ]
    if len(problems) > MAX_NAMED_PROBLEMS:
        more = len(problems) - MAX_NAMED_PROBLEMS
        reasons.append(Reason("integrity_failed", f"and {more} more damaged objects", {"more": more}))
    return reasons


def judge(
    problems: Sequence[CheckProblem],
    previous: Mapping[str, Any] | None,
    figures: dict[str, Any],
    thresholds: Thresholds,
) -> Verdict:
    """Return the verdict on a backup.

    Args:
        problems: what the read-back of the data the backup wrote found (empty: all intact).
        previous: the figures of the job's last successful run (None: none).
        figures: this run's figures.
        thresholds: the job's thresholds.
    """
    anomalies = compare(previous, figures, thresholds)
    if problems:
        return Verdict(Verification.FAILED, [*integrity_reasons(problems), *anomalies], figures)
    if anomalies:
        return Verdict(Verification.WARNINGS, anomalies, figures)
    return Verdict(Verification.VERIFIED, [], figures)


__all__ = ["NOT_VERIFIED", "Verdict", "integrity_reasons", "judge"]
