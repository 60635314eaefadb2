"""Retries with exponential backoff and jitter: transient failures are retried, lasting ones are not."""

from __future__ import annotations

import pytest

from resguardo.backends.retry import NO_RETRY, RetryPolicy, call_with_retries, retrying


class Flaky:
    """Fails with the given errors in turn, then returns "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def transient(error: BaseException) -> bool:
    return isinstance(error, ConnectionError)


def test_transient_failures_are_retried_after_doubling_pauses() -> None:
    pauses: list[float] = []
    operation = Flaky(ConnectionResetError(), ConnectionResetError(), ConnectionResetError())
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=100.0)

    result = call_with_retries(
        operation,
        policy=policy,
        is_transient=transient,
        sleep=pauses.append,
        random_fraction=lambda: 0.999999,
    )

    assert result == "done"
    assert operation.calls == 4
    assert pauses == pytest.approx([1.0, 2.0, 4.0], rel=1e-5)


def test_pauses_are_capped_and_jittered_between_half_and_all_of_the_backoff() -> None:
    policy = RetryPolicy(attempts=10, base_delay=1.0, max_delay=5.0)
    assert policy.delay(1, 0.0) == 0.5
    assert policy.delay(3, 0.0) == 2.0
    assert policy.delay(8, 0.0) == 2.5
    assert policy.delay(8, 0.999) == pytest.approx(5.0, rel=1e-3)


def test_a_lasting_failure_is_raised_at_once() -> None:
    pauses: list[float] = []
    operation = Flaky(PermissionError("denied"))
    with pytest.raises(PermissionError):
        call_with_retries(operation, policy=RetryPolicy(), is_transient=transient, sleep=pauses.append)
    assert operation.calls == 1
    assert pauses == []


def test_the_last_transient_failure_is_raised_when_every_attempt_failed() -> None:
    pauses: list[float] = []
    operation = Flaky(*(ConnectionResetError(number) for number in range(5)))
    with pytest.raises(ConnectionResetError) as raised:
        call_with_retries(
            operation, policy=RetryPolicy(attempts=3), is_transient=transient, sleep=pauses.append
        )
    assert raised.value.args == (2,)
    assert operation.calls == 3
    assert len(pauses) == 2


def test_on_retry_hears_each_failure_before_its_pause() -> None:
    heard: list[tuple[str, int, float]] = []
    operation = Flaky(ConnectionResetError("first"), ConnectionAbortedError("second"))
    call_with_retries(
        operation,
        policy=RetryPolicy(base_delay=0.25),
        is_transient=transient,
        on_retry=lambda error, failures, pause: heard.append((str(error), failures, pause)),
        sleep=lambda _seconds: None,
        random_fraction=lambda: 0.0,
    )
    assert heard == [("first", 1, 0.125), ("second", 2, 0.25)]


def test_no_retry_tries_once() -> None:
    operation = Flaky(ConnectionResetError())
    with pytest.raises(ConnectionResetError):
        call_with_retries(operation, policy=NO_RETRY, is_transient=transient, sleep=lambda _seconds: None)
    assert operation.calls == 1


def test_the_decorator_retries_each_call_with_its_arguments() -> None:
    pauses: list[float] = []
    failures = [ConnectionResetError()]

    @retrying(RetryPolicy(base_delay=0.5), transient, sleep=pauses.append)
    def add(left: int, right: int) -> int:
        if failures:
            raise failures.pop()
        return left + right

    assert add(2, right=3) == 5
    assert len(pauses) == 1


@pytest.mark.parametrize(
    ("attempts", "base_delay", "max_delay"), [(0, 1.0, 1.0), (1, -1.0, 1.0), (1, 1.0, -1.0)]
)
def test_a_policy_without_attempts_or_with_negative_delays_is_refused(
    attempts: int, base_delay: float, max_delay: float
) -> None:
    with pytest.raises(ValueError, match="retry"):
        RetryPolicy(attempts=attempts, base_delay=base_delay, max_delay=max_delay)
