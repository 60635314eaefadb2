"""Retrying operations that fail for passing reasons, with exponential backoff and jitter.

Remote backends call :func:`call_with_retries` around each operation, with a predicate that tells a
passing failure (a dropped connection, a timeout) from a lasting one (permission denied, a missing
object): the first is tried again after a pause that doubles each time, up to a limit, and the second
is raised at once. The pause is randomized ("jitter"), so that several clients cut off together do not
all come back at the same moment. The sleep and random functions can be replaced, so that unit tests
run without waiting.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

Result = TypeVar("Result")
Parameters = ParamSpec("Parameters")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to try an operation, and how long to wait between tries.

    Attributes:
        attempts: tries in all, the first included (1 means no retry).
        base_delay: seconds to wait after the first failure; doubled after each further one.
        max_delay: the longest wait between two tries, in seconds.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("retry delays cannot be negative")

    def delay(self, failures: int, random_fraction: float) -> float:
        """Return the pause after ``failures`` failed tries (1 for the first), in seconds.

        The pause is between half and all of ``base_delay * 2 ** (failures - 1)``, capped at
        ``max_delay``; ``random_fraction`` (in [0, 1)) chooses where in that range.
        """
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (failures - 1))
        return ceiling * (0.5 + random_fraction / 2)


NO_RETRY = RetryPolicy(attempts=1, base_delay=0.0, max_delay=0.0)
"""A policy that tries once."""


def call_with_retries(
    operation: Callable[[], Result],
    *,
    policy: RetryPolicy,
    is_transient: Callable[[BaseException], bool],
    on_retry: Callable[[BaseException, int, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    random_fraction: Callable[[], float] = random.random,
) -> Result:
    """Call ``operation`` until it succeeds, fails for good, or the policy's tries are used up.

    Args:
        operation: the work to do; called with no arguments, it should reconnect by itself if needed.
        policy: how many tries and how long the pauses.
        is_transient: True for an exception worth trying again after a pause.
        on_retry: told ``(error, failures so far, pause in seconds)`` before each pause.
        sleep: waits the given seconds (replace it in tests).
        random_fraction: returns a number in [0, 1) for the jitter (replace it in tests).

    Returns:
        what ``operation`` returned.

    Raises:
        Exception: the first error that is not transient, or the last transient one once every try failed.
    """
    failures = 0
    while True:
        try:
            return operation()
        except Exception as error:
            failures += 1
            if failures >= policy.attempts or not is_transient(error):
                raise
            pause = policy.delay(failures, random_fraction())
            if on_retry is not None:
                on_retry(error, failures, pause)
            sleep(pause)


def retrying(
    policy: RetryPolicy,
    is_transient: Callable[[BaseException], bool],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Callable[[Callable[Parameters, Result]], Callable[Parameters, Result]]:
    """Return a decorator that runs each call of a function through :func:`call_with_retries`.

    Args:
        policy: how many tries and how long the pauses.
        is_transient: True for an exception worth trying again after a pause.
        sleep: waits the given seconds (replace it in tests).
    """

    def decorate(function: Callable[Parameters, Result]) -> Callable[Parameters, Result]:
        @functools.wraps(function)
        def run(*args: Parameters.args, **kwargs: Parameters.kwargs) -> Result:
            return call_with_retries(
                lambda: function(*args, **kwargs), policy=policy, is_transient=is_transient, sleep=sleep
            )

        return run

    return decorate
