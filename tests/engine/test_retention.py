"""Tests of retention policies: every rule on the calendar, grouping, reasons, properties, and removal."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resguardo.backends import MemoryStorage
from resguardo.clock import FakeClock
from resguardo.core.errors import EXIT_USAGE, UsageError
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.durations import Duration, parse_duration
from resguardo.engine.repository import Repository
from resguardo.engine.retention import (
    NO_RULE_KEEPS_IT,
    PERIODS,
    GroupDecision,
    GroupKey,
    RetentionPolicy,
    apply_policy,
    forget_snapshots,
    parse_group_by,
    period_of,
)
from resguardo.engine.snapshot import Snapshot, list_snapshots

LATER = FakeClock(datetime(2100, 1, 1, tzinfo=UTC))


def snapshot(
    when: str | datetime,
    *,
    host: str = "alpha",
    paths: Sequence[str] = ("/data",),
    tags: Sequence[str] = (),
    identifier: str | None = None,
) -> Snapshot:
    """Return a snapshot made at ``when`` (ISO text without a zone is UTC)."""
    moment = datetime.fromisoformat(when) if isinstance(when, str) else when
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seed = f"{moment.isoformat()} {host} {sorted(paths)} {sorted(tags)}".encode()
    return Snapshot(
        time=moment,
        tree=bytes(32),
        paths=list(paths),
        hostname=host,
        tags=list(tags),
        id=identifier or hashlib.sha256(seed).hexdigest(),
    )


def decide(
    snapshots: Sequence[Snapshot], policy: RetentionPolicy, **options: object
) -> dict[str, tuple[str, ...]]:
    """Return the reasons of each kept snapshot, by its time as ISO text (one group expected)."""
    groups = apply_policy(snapshots, policy, clock=options.pop("clock", LATER), **options)  # type: ignore[arg-type]
    assert len(groups) == 1
    return {
        decision.snapshot.time.isoformat(): decision.reasons
        for decision in groups[0].decisions
        if decision.keep
    }


def times(*texts: str) -> list[str]:
    return [datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat() for text in texts]


def hourly_series(start: str, hours: int, step: int = 1) -> list[Snapshot]:
    """Return a snapshot every ``step`` hours for ``hours`` hours from ``start`` (UTC)."""
    first = datetime.fromisoformat(start).replace(tzinfo=UTC)
    return [snapshot(first + timedelta(hours=hour)) for hour in range(0, hours, step)]


# -- counted rules ------------------------------------------------------------------------------


def test_keep_last_keeps_the_newest_snapshots_and_numbers_them() -> None:
    snapshots = [snapshot(f"2026-11-{day:02d}T10:00") for day in range(1, 6)]
    groups = apply_policy(snapshots, RetentionPolicy(keep_last=2), clock=LATER)
    decisions = groups[0].decisions
    assert [decision.snapshot.time.day for decision in decisions] == [5, 4, 3, 2, 1]
    assert [decision.reasons for decision in decisions] == [
        ("last #1",),
        ("last #2",),
        (NO_RULE_KEEPS_IT,),
        (NO_RULE_KEEPS_IT,),
        (NO_RULE_KEEPS_IT,),
    ]
    assert [decision.keep for decision in decisions] == [True, True, False, False, False]


def test_keep_daily_keeps_the_newest_snapshot_of_each_day() -> None:
    snapshots = [
        snapshot("2026-11-18T09:00"),
        snapshot("2026-11-19T08:00"),
        snapshot("2026-11-19T20:00"),
        snapshot("2026-11-20T01:00"),
        snapshot("2026-11-20T23:59:59"),
    ]
    assert decide(snapshots, RetentionPolicy(keep_daily=2)) == {
        times("2026-11-20T23:59:59")[0]: ("daily #1 (2026-11-20)",),
        times("2026-11-19T20:00")[0]: ("daily #2 (2026-11-19)",),
    }


def test_keep_hourly_keeps_the_newest_snapshot_of_each_hour() -> None:
    snapshots = [snapshot(f"2026-11-20T10:{minute:02d}") for minute in (0, 20, 40)]
    snapshots += [snapshot("2026-11-20T11:05"), snapshot("2026-11-20T09:59")]
    assert decide(snapshots, RetentionPolicy(keep_hourly=2)) == {
        times("2026-11-20T11:05")[0]: ("hourly #1 (2026-11-20 11h)",),
        times("2026-11-20T10:40")[0]: ("hourly #2 (2026-11-20 10h)",),
    }


def test_a_month_boundary_separates_days_and_months() -> None:
    snapshots = [
        snapshot("2026-01-15T12:00"),
        snapshot("2026-01-31T23:30"),
        snapshot("2026-02-01T00:30"),
    ]
    kept = decide(snapshots, RetentionPolicy(keep_monthly=2))
    assert kept == {
        times("2026-02-01T00:30")[0]: ("monthly #1 (2026-02)",),
        times("2026-01-31T23:30")[0]: ("monthly #2 (2026-01)",),
    }


def test_a_year_boundary_separates_years() -> None:
    snapshots = [snapshot("2025-06-01T00:00"), snapshot("2025-12-31T23:59:59"), snapshot("2026-01-01T00:00")]
    assert decide(snapshots, RetentionPolicy(keep_yearly=2)) == {
        times("2026-01-01T00:00")[0]: ("yearly #1 (2026)",),
        times("2025-12-31T23:59:59")[0]: ("yearly #2 (2025)",),
    }


def test_a_leap_day_is_a_day_of_its_own() -> None:
    snapshots = [snapshot("2028-02-28T22:00"), snapshot("2028-02-29T12:00"), snapshot("2028-03-01T01:00")]
    assert decide(snapshots, RetentionPolicy(keep_daily=3)) == {
        times("2028-03-01T01:00")[0]: ("daily #1 (2028-03-01)",),
        times("2028-02-29T12:00")[0]: ("daily #2 (2028-02-29)",),
        times("2028-02-28T22:00")[0]: ("daily #3 (2028-02-28)",),
    }


def test_weeks_are_iso_weeks_and_week_53_spans_the_new_year() -> None:
    snapshots = [
        snapshot("2026-12-20T12:00"),  # 2026-W51
        snapshot("2026-12-31T12:00"),  # 2026-W53, a Thursday
        snapshot("2027-01-03T12:00"),  # still 2026-W53, a Sunday
        snapshot("2027-01-04T12:00"),  # 2027-W01, a Monday
    ]
    assert decide(snapshots, RetentionPolicy(keep_weekly=2)) == {
        times("2027-01-04T12:00")[0]: ("weekly #1 (2027-W01)",),
        times("2027-01-03T12:00")[0]: ("weekly #2 (2026-W53)",),
    }


def test_the_last_days_of_december_can_belong_to_week_1_of_the_next_year() -> None:
    assert period_of("weekly", datetime(2024, 12, 30, tzinfo=UTC)) == ((2025, 1), "2025-W01")
    assert period_of("yearly", datetime(2024, 12, 30, tzinfo=UTC)) == ((2024,), "2024")


def test_minus_one_keeps_every_period() -> None:
    snapshots = hourly_series("2026-11-01T00:00", 24 * 40, step=6)
    kept = decide(snapshots, RetentionPolicy(keep_daily=-1))
    assert len(kept) == 40 + 1  # the newest of each of 40 days, and the oldest snapshot
    assert {reasons[0].split(" (")[1][:10] for reasons in kept.values()} == {
        f"{(datetime(2026, 11, 1) + timedelta(days=day)):%Y-%m-%d}" for day in range(40)
    }
    assert len(decide(snapshots, RetentionPolicy(keep_last=-1))) == len(snapshots)


def test_a_rule_with_periods_left_keeps_the_oldest_snapshot_too() -> None:
    snapshots = [
        snapshot("2026-11-18T08:00"),
        snapshot("2026-11-18T20:00"),
        snapshot("2026-11-19T20:00"),
        snapshot("2026-11-20T20:00"),
    ]
    assert decide(snapshots, RetentionPolicy(keep_daily=7)) == {
        times("2026-11-20T20:00")[0]: ("daily #1 (2026-11-20)",),
        times("2026-11-19T20:00")[0]: ("daily #2 (2026-11-19)",),
        times("2026-11-18T20:00")[0]: ("daily #3 (2026-11-18)",),
        times("2026-11-18T08:00")[0]: ("daily #4 (2026-11-18, oldest)",),
    }
    assert times("2026-11-18T08:00")[0] not in decide(snapshots, RetentionPolicy(keep_daily=3))


def test_every_rule_that_keeps_a_snapshot_is_named() -> None:
    snapshots = [
        snapshot("2026-10-31T12:00"),
        snapshot("2026-11-19T12:00"),
        snapshot("2026-11-20T12:00", tags=["audit"]),
    ]
    policy = RetentionPolicy(
        keep_last=1,
        keep_daily=1,
        keep_monthly=2,
        keep_within=parse_duration("2d"),
        keep_tags=frozenset({"audit"}),
    )
    kept = decide(snapshots, policy, group_by=())
    assert kept[times("2026-11-20T12:00")[0]] == (
        "tag 'audit'",
        "within 2d",
        "last #1",
        "daily #1 (2026-11-20)",
        "monthly #1 (2026-11)",
    )
    assert kept[times("2026-11-19T12:00")[0]] == ("within 2d",)
    assert kept[times("2026-10-31T12:00")[0]] == ("monthly #2 (2026-10)",)


# -- time: zones and ties -----------------------------------------------------------------------


def test_periods_are_read_in_the_time_zone_the_snapshot_was_recorded_in() -> None:
    east = timezone(timedelta(hours=10))
    early = snapshot(datetime(2026, 11, 20, 8, 0, tzinfo=east))  # 2026-11-19 22:00 UTC
    evening = snapshot(datetime(2026, 11, 19, 23, 0, tzinfo=UTC))  # later in absolute time
    kept = decide([early, evening], RetentionPolicy(keep_daily=1))
    assert kept == {evening.time.isoformat(): ("daily #1 (2026-11-19)",)}
    kept = decide([early], RetentionPolicy(keep_daily=1))
    assert kept == {early.time.isoformat(): ("daily #1 (2026-11-20)",)}


def test_snapshots_of_the_same_time_are_ordered_by_id_whatever_the_input_order() -> None:
    moment = "2026-11-20T10:00:00"
    low, high = snapshot(moment, identifier="1" * 64), snapshot(moment, identifier="f" * 64)
    for order in ([low, high], [high, low]):
        groups = apply_policy(order, RetentionPolicy(keep_last=1), clock=LATER)
        assert [decision.snapshot.id for decision in groups[0].decisions] == [high.id, low.id]
        assert groups[0].kept == [high]


def test_a_later_microsecond_of_the_same_second_is_the_newer_snapshot() -> None:
    first = snapshot("2026-11-20T10:00:00.000001", identifier="f" * 64)
    second = snapshot("2026-11-20T10:00:00.000002", identifier="1" * 64)
    assert apply_policy([first, second], RetentionPolicy(keep_last=1), clock=LATER)[0].kept == [second]


# -- keep within ---------------------------------------------------------------------------------


def test_keep_within_counts_from_the_newest_snapshot_not_from_now() -> None:
    snapshots = [snapshot(f"2026-11-{day:02d}T12:00") for day in range(1, 21)]
    kept = decide(snapshots, RetentionPolicy(keep_within=Duration(days=3)), clock=LATER)
    assert sorted(kept) == times("2026-11-18T12:00", "2026-11-19T12:00", "2026-11-20T12:00")
    assert set(kept.values()) == {("within 3d",)}


def test_keep_within_keeps_only_snapshots_strictly_newer_than_the_cutoff() -> None:
    snapshots = [snapshot("2026-11-17T12:00"), snapshot("2026-11-17T12:00:01"), snapshot("2026-11-20T12:00")]
    kept = decide(snapshots, RetentionPolicy(keep_within=Duration(days=3)))
    assert sorted(kept) == times("2026-11-17T12:00:01", "2026-11-20T12:00")


def test_keep_within_counts_months_on_the_calendar() -> None:
    snapshots = [snapshot("2026-02-28T12:00"), snapshot("2026-02-28T12:00:01"), snapshot("2026-03-31T12:00")]
    kept = decide(snapshots, RetentionPolicy(keep_within=Duration(months=1)))
    assert sorted(kept) == times("2026-02-28T12:00:01", "2026-03-31T12:00")


def test_a_snapshot_in_the_future_does_not_move_the_window() -> None:
    clock = FakeClock(datetime(2026, 11, 20, 13, 0, tzinfo=UTC))
    snapshots = [snapshot("2026-11-10T12:00"), snapshot("2026-11-19T12:00"), snapshot("2027-06-01T00:00")]
    kept = decide(snapshots, RetentionPolicy(keep_within=Duration(days=2)), clock=clock)
    assert sorted(kept) == times("2026-11-19T12:00", "2027-06-01T00:00")


def test_when_every_snapshot_is_in_the_future_the_window_counts_from_now() -> None:
    clock = FakeClock(datetime(2020, 1, 1, tzinfo=UTC))
    snapshots = [snapshot("2026-11-10T12:00"), snapshot("2026-11-19T12:00")]
    assert len(decide(snapshots, RetentionPolicy(keep_within=Duration(days=2)), clock=clock)) == 2


def test_keep_within_daily_keeps_one_snapshot_a_day_inside_the_window() -> None:
    snapshots = hourly_series("2026-11-10T00:00", 24 * 10, step=8)  # 10 days, 3 a day
    policy = RetentionPolicy(keep_last=1, keep_within_daily=Duration(days=3))
    kept = decide(snapshots, policy)
    assert kept == {
        times("2026-11-19T16:00")[0]: ("last #1", "daily within 3d (2026-11-19)"),
        times("2026-11-18T16:00")[0]: ("daily within 3d (2026-11-18)",),
        times("2026-11-17T16:00")[0]: ("daily within 3d (2026-11-17)",),
    }


@pytest.mark.parametrize("period", PERIODS)
def test_every_keep_within_period_rule_exists(period: str) -> None:
    policy = RetentionPolicy(**{f"keep_within_{period}": Duration(years=10)})  # type: ignore[arg-type]
    snapshots = hourly_series("2026-11-10T00:00", 3)
    kept = decide(snapshots, policy)
    assert kept and all(reasons[0].startswith(f"{period} within 10y (") for reasons in kept.values())


# -- tags, groups, and refusals ------------------------------------------------------------------


def test_keep_tags_keeps_snapshots_with_any_of_the_tags() -> None:
    snapshots = [
        snapshot("2026-01-01T00:00", tags=["monthly-audit"]),
        snapshot("2026-02-01T00:00", tags=["other"]),
        snapshot("2026-03-01T00:00", tags=["legal", "monthly-audit"]),
        snapshot("2026-04-01T00:00"),
    ]
    policy = RetentionPolicy(keep_tags=frozenset({"monthly-audit", "legal"}))
    kept = decide(snapshots, policy, group_by=("host",))
    assert kept == {
        times("2026-03-01T00:00")[0]: ("tag 'legal'", "tag 'monthly-audit'"),
        times("2026-01-01T00:00")[0]: ("tag 'monthly-audit'",),
    }


def test_by_default_each_host_and_set_of_paths_is_a_group_of_its_own() -> None:
    snapshots = [
        snapshot("2026-11-01T00:00", host="alpha", paths=["/data", "/etc"]),
        snapshot("2026-11-02T00:00", host="alpha", paths=["/etc", "/data"]),
        snapshot("2026-11-03T00:00", host="beta", paths=["/data", "/etc"]),
        snapshot("2026-11-04T00:00", host="alpha", paths=["/home"], tags=["x"]),
    ]
    groups = apply_policy(snapshots, RetentionPolicy(keep_last=1), clock=LATER)
    assert [group.key for group in groups] == [
        GroupKey("alpha", ("/data", "/etc")),
        GroupKey("alpha", ("/home",)),
        GroupKey("beta", ("/data", "/etc")),
    ]
    assert [[item.time.day for item in group.kept] for group in groups] == [[2], [4], [3]]
    assert [[item.time.day for item in group.removed] for group in groups] == [[1], [], []]
    assert groups[0].to_json()["group"] == {"hostname": "alpha", "paths": ["/data", "/etc"]}


def test_grouping_by_nothing_makes_one_group_and_by_tags_splits_by_tag_set() -> None:
    snapshots = [
        snapshot("2026-11-01T00:00", host="alpha", tags=["b", "a"]),
        snapshot("2026-11-02T00:00", host="beta", tags=["a", "b"]),
        snapshot("2026-11-03T00:00", host="alpha"),
    ]
    single = apply_policy(snapshots, RetentionPolicy(keep_last=1), group_by=(), clock=LATER)
    assert [group.key for group in single] == [GroupKey()]
    assert [item.time.day for item in single[0].kept] == [3]
    by_tags = apply_policy(snapshots, RetentionPolicy(keep_last=1), group_by=("tags",), clock=LATER)
    assert [(group.key.tags, len(group.kept)) for group in by_tags] == [((), 1), (("a", "b"), 1)]
    assert by_tags[1].removed[0].time.day == 1


def test_parse_group_by_reads_fields_and_refuses_unknown_ones() -> None:
    assert parse_group_by("host,paths") == ("host", "paths")
    assert parse_group_by(" tags , host ") == ("host", "tags")
    assert parse_group_by("") == ()
    with pytest.raises(UsageError, match="cannot group by hostname"):
        parse_group_by("hostname,paths")


def test_an_empty_policy_is_refused_with_a_hint() -> None:
    with pytest.raises(UsageError) as raised:
        apply_policy([snapshot("2026-11-01T00:00")], RetentionPolicy(), clock=LATER)
    assert raised.value.exit_code == EXIT_USAGE
    assert "--keep-" in raised.value.hint


def test_counts_below_minus_one_are_refused() -> None:
    with pytest.raises(UsageError, match="keep-daily is -2"):
        RetentionPolicy(keep_daily=-2)


def test_the_policy_lists_its_rules_as_json() -> None:
    policy = RetentionPolicy(
        keep_daily=7, keep_within=parse_duration("1y2m"), keep_tags=frozenset({"b", "a"})
    )
    assert policy.to_json() == {"keep_daily": 7, "keep_within": "1y2m", "keep_tags": ["a", "b"]}


# -- properties ----------------------------------------------------------------------------------

START = datetime(2024, 1, 1, tzinfo=UTC)
moments = st.integers(min_value=0, max_value=3 * 366 * 24 * 60).map(
    lambda minutes: START + timedelta(minutes=minutes)
)
snapshot_lists = st.lists(
    st.builds(
        lambda moment, host, tags, salt: snapshot(
            moment,
            host=host,
            tags=tags,
            identifier=hashlib.sha256(f"{moment}{host}{tags}{salt}".encode()).hexdigest(),
        ),
        moments,
        st.sampled_from(["alpha", "beta"]),
        st.lists(st.sampled_from(["a", "b"]), max_size=2, unique=True),
        st.integers(0, 3),
    ),
    max_size=40,
)
counts = st.sampled_from([0, 0, 1, 2, 3, 7, -1])
policies = st.builds(
    RetentionPolicy,
    keep_last=counts,
    keep_hourly=counts,
    keep_daily=counts,
    keep_weekly=counts,
    keep_monthly=counts,
    keep_yearly=counts,
    keep_within=st.none() | st.builds(Duration, days=st.integers(1, 60)),
    keep_within_weekly=st.none() | st.builds(Duration, months=st.integers(1, 12)),
    keep_tags=st.frozensets(st.sampled_from(["a", "b"]), max_size=1),
).filter(lambda policy: not policy.is_empty)


def kept_ids(groups: list[GroupDecision]) -> set[str]:
    return {snapshot.id for group in groups for snapshot in group.kept}


@given(snapshot_lists, policies)
def test_every_snapshot_is_either_kept_or_removed_exactly_once(
    snapshots: list[Snapshot], policy: RetentionPolicy
) -> None:
    groups = apply_policy(snapshots, policy, clock=LATER)
    decided = [decision for group in groups for decision in group.decisions]
    assert sorted(decision.snapshot.id for decision in decided) == sorted(item.id for item in snapshots)
    for decision in decided:
        assert decision.reasons
        assert (decision.reasons == (NO_RULE_KEEPS_IT,)) is not decision.keep


@given(snapshot_lists, st.integers(1, 10))
def test_keep_last_keeps_exactly_the_newest_n_of_each_group(snapshots: list[Snapshot], count: int) -> None:
    for group in apply_policy(snapshots, RetentionPolicy(keep_last=count), clock=LATER):
        assert len(group.kept) == min(count, len(group.decisions))
        assert group.kept == [decision.snapshot for decision in group.decisions[:count]]


@given(snapshot_lists, st.sampled_from(PERIODS), st.integers(1, 10))
def test_a_period_rule_keeps_n_distinct_periods_and_at_most_n_snapshots(
    snapshots: list[Snapshot], period: str, count: int
) -> None:
    groups = apply_policy(snapshots, RetentionPolicy(**{f"keep_{period}": count}), clock=LATER)  # type: ignore[arg-type]
    for group in groups:
        all_periods = {period_of(period, item.time)[0] for item in group.removed + group.kept}
        kept_periods = {period_of(period, item.time)[0] for item in group.kept}
        assert len(group.kept) <= count
        assert len(kept_periods) == min(count, len(all_periods))
        newest_of_period: dict[tuple[int, ...], Snapshot] = {}
        for decision in group.decisions:
            newest_of_period.setdefault(period_of(period, decision.snapshot.time)[0], decision.snapshot)
        oldest = group.decisions[-1].snapshot
        for kept in group.kept:
            assert kept is newest_of_period[period_of(period, kept.time)[0]] or kept is oldest


@given(snapshot_lists, policies, policies)
def test_adding_rules_never_removes_more(
    snapshots: list[Snapshot], policy: RetentionPolicy, extra: RetentionPolicy
) -> None:
    combined = RetentionPolicy(
        **{
            name: max(
                getattr(policy, name), getattr(extra, name), key=lambda value: 10**9 if value == -1 else value
            )
            for name in (
                "keep_last",
                "keep_hourly",
                "keep_daily",
                "keep_weekly",
                "keep_monthly",
                "keep_yearly",
            )
        },
        keep_within=policy.keep_within or extra.keep_within,
        keep_within_weekly=policy.keep_within_weekly or extra.keep_within_weekly,
        keep_tags=policy.keep_tags | extra.keep_tags,
    )
    assert kept_ids(apply_policy(snapshots, policy, clock=LATER)) <= kept_ids(
        apply_policy(snapshots, combined, clock=LATER)
    )


@given(snapshot_lists, policies, st.randoms(use_true_random=False))
def test_the_decisions_do_not_depend_on_the_input_order(
    snapshots: list[Snapshot], policy: RetentionPolicy, shuffler: random.Random
) -> None:
    shuffled = list(snapshots)
    shuffler.shuffle(shuffled)
    assert apply_policy(snapshots, policy, clock=LATER) == apply_policy(shuffled, policy, clock=LATER)


# -- removing snapshot objects --------------------------------------------------------------------


@pytest.fixture
def repository() -> Repository:
    return Repository.create(
        MemoryStorage(), b"retention", kdf=KdfParameters(memory_kib=1024, iterations=1, lanes=1)
    )


def test_forget_snapshots_removes_only_the_named_snapshot_objects(repository: Repository) -> None:
    saved = [
        repository.save_snapshot_document(snapshot(f"2026-11-{day:02d}T00:00").to_document())
        for day in (1, 2, 3)
    ]
    told: list[str] = []
    removed = forget_snapshots(repository, [saved[0], saved[2], saved[0]], on_removed=told.append)
    assert removed == told == [saved[0], saved[2]]
    assert [item.id for item in list_snapshots(repository)] == [saved[1]]
    assert forget_snapshots(repository, [saved[0]]) == [saved[0]]  # already gone: not an error


@pytest.mark.parametrize("bad", ["abc", "../config", "A" * 64, "0" * 63])
def test_forget_snapshots_refuses_anything_but_full_ids_and_removes_nothing(
    repository: Repository, bad: str
) -> None:
    saved = repository.save_snapshot_document(snapshot("2026-11-01T00:00").to_document())
    with pytest.raises(UsageError, match="not a full snapshot ID"):
        forget_snapshots(repository, [saved, bad])
    assert repository.snapshot_ids() == [saved]
