"""Periodic verification (R13): rotating scrubs of repositories and restore tests of jobs.

See docs/verification.md. :func:`run_verification` runs one claimed verification; :func:`plan_slice`
says which packs a scrub reads; :func:`verify_now` queues one at a person's request.
"""

from resguardo.services.verification.outcome import VerificationOutcome, VerificationProgress
from resguardo.services.verification.requests import verify_now
from resguardo.services.verification.runner import VerificationStopped, run_verification
from resguardo.services.verification.scrub_plan import ScrubSlice, plan_slice

__all__ = [
    "ScrubSlice",
    "VerificationOutcome",
    "VerificationProgress",
    "VerificationStopped",
    "plan_slice",
    "run_verification",
    "verify_now",
]
