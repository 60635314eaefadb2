"""The verification options of ``repository edit`` and ``job edit``: a schedule in the text form
(docs/scheduling.md), read before the catalog is opened so that a bad one names its option."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from resguardo.core.errors import UsageError

MAX_SCRUB_PERIOD_DAYS = 3660
MAX_SAMPLE_FILES = 1_000_000

VerificationScheduleOption = Annotated[
    str | None,
    typer.Option(
        "--verification-schedule",
        metavar="TEXT",
        help="When the repository is scrubbed, e.g. 'weekly on sunday at 03:00'.",
    ),
]
ScrubPeriodOption = Annotated[
    int | None,
    typer.Option(
        "--scrub-period-days",
        metavar="N",
        min=1,
        max=MAX_SCRUB_PERIOD_DAYS,
        help="Read every pack once within N days (default 30).",
    ),
]
RestoreTestScheduleOption = Annotated[
    str | None,
    typer.Option(
        "--restore-test-schedule",
        metavar="TEXT",
        help="When the job's latest backup is restore-tested, e.g. 'monthly on day 1 at 04:00'.",
    ),
]
SampleFilesOption = Annotated[
    int | None,
    typer.Option(
        "--restore-test-sample-files",
        metavar="N",
        min=1,
        max=MAX_SAMPLE_FILES,
        help="Files a restore test restores from a larger snapshot (default 1000).",
    ),
]


def schedule_of_option(text: str | None, option: str) -> dict[str, Any] | None:
    """Return the dict form of the schedule given to ``option`` (None when not given).

    Raises:
        UsageError: the schedule cannot be read; the message names ``option`` and says why.
    """
    if text is None:
        return None
    from resguardo.schedules import InvalidSchedule, parse_schedule_argument

    try:
        return parse_schedule_argument(text)
    except InvalidSchedule as error:
        raise UsageError(
            f"{option}: {error.message}",
            error.hint or "write it as e.g. 'weekly on sunday at 03:00' (docs/scheduling.md)",
        ) from None


def settings_line(settings: dict[str, Any], extra: str) -> str:
    """Return verification settings in one line: the schedule in words and ``extra``."""
    from resguardo.schedules import InvalidSchedule, describe_schedule

    try:
        words = describe_schedule(settings["schedule"], "en")
    except InvalidSchedule:
        words = str(settings["schedule"])
    return f"{words}; {extra}"
