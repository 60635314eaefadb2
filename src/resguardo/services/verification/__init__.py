"""Verification (R12, R13): every backup when its run ends, and periodically its repository and restores.

When a run ends (R12): :mod:`.thresholds` holds when the comparison warns (per category, overridable per
job), :mod:`.figures` what a run records for the next one, :mod:`.compare` the comparison and its
wording, and :mod:`.verdict` the verdict stored on the run.

Periodically (R13; see docs/verification.md): :func:`run_verification` runs one claimed verification
(a rotating scrub of a repository or a restore test of a job); :func:`plan_slice` says which packs a
scrub reads; :func:`verify_now` queues one at a person's request.
"""

from resguardo.services.verification.compare import Reason, compare
from resguardo.services.verification.figures import run_figures
from resguardo.services.verification.outcome import VerificationOutcome, VerificationProgress
from resguardo.services.verification.requests import verify_now
from resguardo.services.verification.runner import VerificationStopped, run_verification
from resguardo.services.verification.scrub_plan import ScrubSlice, plan_slice
from resguardo.services.verification.thresholds import CATEGORY_THRESHOLDS, Thresholds, thresholds_of
from resguardo.services.verification.verdict import NOT_VERIFIED, Verdict, integrity_reasons, judge

__all__ = [
    "CATEGORY_THRESHOLDS",
    "NOT_VERIFIED",
    "Reason",
    "ScrubSlice",
    "Thresholds",
    "Verdict",
    "VerificationOutcome",
    "VerificationProgress",
    "VerificationStopped",
    "compare",
    "integrity_reasons",
    "judge",
    "plan_slice",
    "run_figures",
    "run_verification",
    "thresholds_of",
    "verify_now",
]
