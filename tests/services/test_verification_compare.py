"""The comparison of a backup with its job's last successful run: thresholds, both directions, dumps' ages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from resguardo.catalog import Verification
from resguardo.clock import FakeClock
from resguardo.engine.checker import CheckProblem
from resguardo.services.verification import Thresholds, compare, judge, run_figures

THRESHOLDS = Thresholds(size_change_percent=30, file_count_change_percent=40, unchanged_dump_days=3)
START = datetime(2026, 12, 1, 1, 0, 5, tzinfo=UTC)


def files(size: int, count: int, when: datetime = START) -> dict[str, Any]:
    return run_figures({"total_bytes_processed": size, "total_files_processed": count}, [], when, None)


def dumps(
    when: datetime, previous: dict[str, Any] | None = None, **streams: tuple[int, str, dict[str, Any] | None]
) -> dict[str, Any]:
    """Figures of a database backup: database name → (size, content id, tables or None)."""
    descriptions: list[dict[str, str | int]] = []
    for database, (size, content_id, tables) in streams.items():
        description: dict[str, str | int] = {
            "name": f"postgresql/{database}.pgdump",
            "kind": "postgresql.database",
            "database": database,
            "size": size,
            "content_id": content_id,
        }
        if tables is not None:
            description["tables"] = json.dumps(tables)
            description["tables_exact"] = 1
        descriptions.append(description)
    summary = {
        "total_bytes_processed": sum(size for size, _, _ in streams.values()),
        "total_files_processed": 1,
    }
    return run_figures(summary, descriptions, when, previous)


def codes(
    previous: dict[str, Any] | None, current: dict[str, Any], thresholds: Thresholds = THRESHOLDS
) -> list[str]:
    return [reason.code for reason in compare(previous, current, thresholds)]


@pytest.mark.parametrize(("after", "warns"), [(700, True), (701, False), (1300, True), (1299, False)])
def test_total_size_warns_exactly_at_the_threshold_in_both_directions(after: int, warns: bool) -> None:
    assert codes(files(1000, 10), files(after, 10)) == (["size_changed"] if warns else [])


@pytest.mark.parametrize(("after", "warns"), [(60, True), (61, False), (140, True), (139, False)])
def test_file_count_warns_exactly_at_its_own_threshold_in_both_directions(after: int, warns: bool) -> None:
    assert codes(files(1000, 100), files(1000, after)) == (["files_changed"] if warns else [])


def test_messages_give_the_change_and_the_figures_for_a_person() -> None:
    reasons = compare(files(1_200_000_000, 1000), files(456_000_000, 200), THRESHOLDS)
    assert [reason.message for reason in reasons] == [
        "the backup is 62% smaller than the last one (1.1 GiB → 434.9 MiB)",
        "the backup has 80% fewer files than the last one (1,000 → 200)",
    ]
    assert reasons[0].figures == {"before": 1_200_000_000, "after": 456_000_000, "threshold_percent": 30}
    grown = compare(files(1000, 10), files(2000, 20), THRESHOLDS)
    assert [reason.message for reason in grown] == [
        "the backup is 100% larger than the last one (1000 B → 2.0 KiB)",
        "the backup has 100% more files than the last one (10 → 20)",
    ]


def test_a_first_run_has_nothing_to_compare_with() -> None:
    assert codes(None, files(1000, 10)) == []
    assert codes(files(0, 0), files(1000, 10)) == []


def test_a_dump_that_shrank_is_named_with_its_sizes() -> None:
    earlier = dumps(START, nomina=(1_200_000_000, "a", None), ventas=(1000, "b", None))
    later = dumps(
        START + timedelta(days=1), earlier, nomina=(456_000_000, "c", None), ventas=(1000, "d", None)
    )
    reasons = compare(earlier, later, THRESHOLDS)
    assert [reason.message for reason in reasons] == [
        "the dump of `nomina` is 62% smaller than the last one (1.1 GiB → 434.9 MiB)"
    ]


def test_a_dump_that_is_gone_is_noticed() -> None:
    earlier = dumps(START, nomina=(5000, "a", None), ventas=(1000, "b", None))
    later = dumps(START + timedelta(days=1), earlier, nomina=(5000, "c", None))
    assert [reason.message for reason in compare(earlier, later, THRESHOLDS)] == [
        "there is no dump of `ventas` this time (the last one was 1000 B)"
    ]


def test_tables_that_lost_rows_are_counted_and_named_and_small_tables_ignored() -> None:
    tables_before = {
        "public.a": {"rows": 1000, "bytes": 10},
        "public.b": {"rows": 1000, "bytes": 10},
        "public.c": {"rows": 1000, "bytes": 10},
        "public.d": {"rows": 1000, "bytes": 10},
        "public.tiny": {"rows": 10, "bytes": 10},
    }
    tables_after = {
        "public.a": {"rows": 700, "bytes": 10},
        "public.b": {"rows": 100, "bytes": 10},
        "public.c": {"rows": 0, "bytes": 10},
        "public.d": {"rows": 701, "bytes": 10},
        "public.tiny": {"rows": 1, "bytes": 10},
    }
    earlier = dumps(START, nomina=(5000, "a", tables_before))
    later = dumps(START + timedelta(days=1), earlier, nomina=(5000, "b", tables_after))
    (reason,) = compare(earlier, later, THRESHOLDS)
    assert reason.message == (
        "3 tables of `nomina` lost 30% or more of their rows "
        "(public.a 1,000 → 700; public.b 1,000 → 100; public.c 1,000 → 0)"
    )
    assert reason.code == "table_rows_changed" and reason.figures["direction"] == "down"


def test_tables_that_grew_in_bytes_or_vanished_warn_and_absent_tables_figures_are_ignored() -> None:
    mebibyte = 1024 * 1024
    before = {"s.big": {"rows": 1, "bytes": 10 * mebibyte}, "s.old": {"rows": 5000, "bytes": 10}}
    after = {"s.big": {"rows": 1, "bytes": 13 * mebibyte}}
    earlier = dumps(START, nomina=(5000, "a", before))
    later = dumps(START + timedelta(days=1), earlier, nomina=(5000, "b", after))
    assert [reason.message for reason in compare(earlier, later, THRESHOLDS)] == [
        "1 table of `nomina` is not in its dump any more (s.old)",
        "1 table of `nomina` grew by 30% or more (s.big 10.0 MiB → 13.0 MiB)",
    ]
    without_tables = dumps(START + timedelta(days=2), later, nomina=(5000, "c", None))
    assert codes(later, without_tables) == []


def test_an_identical_dump_warns_once_it_is_unchanged_for_the_threshold_days() -> None:
    clock = FakeClock(START)
    figures = dumps(clock.now(), nomina=(5000, "same", None))
    seen = []
    for _ in range(4):
        clock.advance(86_400 - 7)  # runs drift earlier day by day
        previous, figures = figures, dumps(clock.now(), figures, nomina=(5000, "same", None))
        seen.append([reason.message for reason in compare(previous, figures, THRESHOLDS)])
    expected = "nothing seems to be written to `nomina`: its dump has not changed since 2026-12-01"
    assert seen == [[], [], [expected], [expected]]


def test_a_changed_dump_starts_the_count_again_and_zero_days_turns_it_off() -> None:
    first = dumps(START, nomina=(5000, "one", None))
    second = dumps(START + timedelta(days=2), first, nomina=(5000, "two", None))
    third = dumps(START + timedelta(days=4), second, nomina=(5000, "two", None))
    assert (
        second["streams"]["postgresql/nomina.pgdump"]["unchanged_since"]
        == (START + timedelta(days=2)).isoformat()
    )
    assert codes(second, third) == []
    assert codes(second, dumps(START + timedelta(days=5), second, nomina=(5000, "two", None))) == [
        "dump_unchanged"
    ]
    off = Thresholds(30, 30, 0)
    assert codes(second, dumps(START + timedelta(days=50), second, nomina=(5000, "two", None)), off) == []


def test_the_verdict_fails_on_damage_warns_on_anomalies_and_verifies_otherwise() -> None:
    damage = [CheckProblem("pack", "data/ab/abcd", "pack content does not match its name (damaged)")]
    failed = judge(damage, files(1000, 10), files(1000, 10), THRESHOLDS)
    assert failed.verification is Verification.FAILED
    assert failed.documents()[0]["code"] == "integrity_failed"
    assert "data/ab/abcd" in failed.documents()[0]["message"]
    assert judge([], files(1000, 10), files(10, 10), THRESHOLDS).verification is Verification.WARNINGS
    verified = judge([], files(1000, 10), files(1000, 10), THRESHOLDS)
    assert verified.verification is Verification.VERIFIED and verified.reasons == []
