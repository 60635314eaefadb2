"""Verifying every backup when its run ends (R12): read back what it wrote, compare with the last run.

:mod:`.thresholds` holds when the comparison warns (per category, overridable per job), :mod:`.figures`
what a run records for the next one, :mod:`.compare` the comparison and its wording, and
:mod:`.verdict` the verdict stored on the run.
"""

from resguardo.services.verification.compare import Reason, compare
from resguardo.services.verification.figures import run_figures
from resguardo.services.verification.thresholds import CATEGORY_THRESHOLDS, Thresholds, thresholds_of
from resguardo.services.verification.verdict import NOT_VERIFIED, Verdict, integrity_reasons, judge

__all__ = [
    "CATEGORY_THRESHOLDS",
    "NOT_VERIFIED",
    "Reason",
    "Thresholds",
    "Verdict",
    "compare",
    "integrity_reasons",
    "judge",
    "run_figures",
    "thresholds_of",
]
