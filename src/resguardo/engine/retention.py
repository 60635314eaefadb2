"""Retention policies: which snapshots ``forget`` keeps, every rule keeping each one, and removing the rest.

The semantics are those operators of restic know:

* Snapshots are put in groups (by default the same host and the same set of paths), and the policy is
  applied to each group on its own.
* In a group, snapshots are sorted newest first; two snapshots of the very same time are ordered by ID
  (the higher ID counts as the newer, as ``latest`` does elsewhere).
* ``keep_last N`` keeps the N newest snapshots.
* ``keep_hourly``, ``keep_daily``, ``keep_weekly``, ``keep_monthly``, ``keep_yearly N`` keep the newest
  snapshot of each distinct hour, day, ISO week, month or year, until N distinct periods are kept. While a
  rule has periods left when it reaches the oldest snapshot of the group, it keeps that one too (and counts
  it), so the history kept reaches as far back as it can: restic does the same since its version 0.16.
  ``-1`` means unlimited: every period is kept.
* ``keep_within D`` keeps every snapshot newer than the group's reference time minus D. The reference is
  the newest snapshot of the group that is not in the future (so that one snapshot with a clock set ahead
  does not push the window forward); when every snapshot is in the future, it is now. A policy measured
  from now would forget everything of a machine that stopped making backups.
* ``keep_within_hourly`` ... ``keep_within_yearly D`` keep the newest snapshot of each period among those
  newer than the reference time minus D.
* ``keep_tags`` keeps every snapshot carrying any one of the tags.
* A snapshot is kept when any rule keeps it; its reasons name every rule that does.

Periods are read from the snapshot's time as recorded, in the time zone offset it was recorded with
(``backup`` records UTC, so its days begin at midnight UTC). Weeks are ISO 8601 weeks: they begin on
Monday, and the last days of December may belong to week 1 of the next year (or the first days of
January to week 52 or 53 of the year before). Durations are counted on the calendar (see
:mod:`resguardo.engine.durations`).

An empty policy would remove every snapshot: :func:`apply_policy` refuses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from resguardo.clock import SYSTEM_CLOCK, Clock
from resguardo.core.errors import UsageError
from resguardo.engine.durations import Duration
from resguardo.engine.repository import SNAPSHOTS_PREFIX, Repository
from resguardo.engine.snapshot import Snapshot

UNLIMITED = -1
PERIODS = ("hourly", "daily", "weekly", "monthly", "yearly")
COUNTED_RULES = ("last", *PERIODS)
GROUP_FIELDS = ("host", "paths", "tags")
DEFAULT_GROUP_BY = ("host", "paths")
NO_RULE_KEEPS_IT = "no rule keeps it"
EMPTY_POLICY_HINT = (
    "give at least one --keep-* option (e.g. --keep-daily 7 --keep-weekly 4), "
    "or the IDs of the snapshots to forget"
)
_SNAPSHOT_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """What to keep. Counts are 0 (rule off), a positive number, or -1 (unlimited).

    Raises:
        UsageError: a count is below -1.
    """

    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    keep_within: Duration | None = None
    keep_within_hourly: Duration | None = None
    keep_within_daily: Duration | None = None
    keep_within_weekly: Duration | None = None
    keep_within_monthly: Duration | None = None
    keep_within_yearly: Duration | None = None
    keep_tags: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for rule in COUNTED_RULES:
            if self.count(rule) < UNLIMITED:
                raise UsageError(
                    f"keep-{rule} is {self.count(rule)}",
                    "a count is a positive number, 0 to turn the rule off, or -1 for unlimited",
                )

    def count(self, rule: str) -> int:
        """Return the count of a counted rule (``last``, ``hourly``, ... ``yearly``)."""
        value: int = getattr(self, f"keep_{rule}")
        return value

    def within(self, period: str | None = None) -> Duration | None:
        """Return ``keep_within`` (no period) or ``keep_within_<period>``, or None when not set."""
        value: Duration | None = getattr(self, f"keep_within_{period}" if period else "keep_within")
        return None if value is None or value.is_zero else value

    @property
    def is_empty(self) -> bool:
        """True when no rule keeps anything: applying the policy would remove every snapshot."""
        return (
            not self.keep_tags
            and all(self.count(rule) == 0 for rule in COUNTED_RULES)
            and all(self.within(period) is None for period in (None, *PERIODS))
        )

    def to_json(self) -> dict[str, Any]:
        """Return the rules that are set, as a JSON-ready map (durations as written, tags sorted)."""
        document: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "keep_tags":
                if value:
                    document[item.name] = sorted(value)
            elif isinstance(value, Duration):
                if not value.is_zero:
                    document[item.name] = str(value)
            elif value:
                document[item.name] = value
        return document


@dataclass(frozen=True, slots=True, order=True)
class GroupKey:
    """What the snapshots of one group share; a field is None when the grouping does not use it."""

    hostname: str | None = None
    paths: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the fields the grouping uses, as a JSON-ready map."""
        document: dict[str, Any] = {}
        if self.hostname is not None:
            document["hostname"] = self.hostname
        if self.paths is not None:
            document["paths"] = list(self.paths)
        if self.tags is not None:
            document["tags"] = list(self.tags)
        return document


@dataclass(frozen=True, slots=True)
class Decision:
    """The fate of one snapshot: kept (with every rule that keeps it) or removed (with why)."""

    snapshot: Snapshot
    keep: bool
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """Return the snapshot's identity and the decision as a JSON-ready map."""
        snapshot = self.snapshot
        return {
            "id": snapshot.id,
            "short_id": snapshot.short_id,
            "time": snapshot.time.isoformat(),
            "hostname": snapshot.hostname,
            "paths": snapshot.paths,
            "tags": snapshot.tags,
            "keep": self.keep,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class GroupDecision:
    """The decisions for one group of snapshots, newest first."""

    key: GroupKey
    decisions: tuple[Decision, ...]

    @property
    def kept(self) -> list[Snapshot]:
        """The snapshots kept, newest first."""
        return [decision.snapshot for decision in self.decisions if decision.keep]

    @property
    def removed(self) -> list[Snapshot]:
        """The snapshots to remove, newest first."""
        return [decision.snapshot for decision in self.decisions if not decision.keep]

    def to_json(self) -> dict[str, Any]:
        """Return the group and its decisions as a JSON-ready map."""
        return {"group": self.key.to_json(), "snapshots": [decision.to_json() for decision in self.decisions]}


def parse_group_by(text: str) -> tuple[str, ...]:
    """Parse ``--group-by``: a comma-separated list of ``host``, ``paths``, ``tags``; empty for one group.

    Returns the fields in the order host, paths, tags.

    Raises:
        UsageError: a field is unknown.
    """
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(wanted - set(GROUP_FIELDS))
    if unknown:
        raise UsageError(
            f"cannot group by {', '.join(unknown)}",
            "group by any of host, paths, tags, separated by commas, or by '' for a single group",
        )
    return tuple(name for name in GROUP_FIELDS if name in wanted)


def group_key(snapshot: Snapshot, group_by: Sequence[str]) -> GroupKey:
    """Return the key of the group ``snapshot`` belongs to when grouping by the fields ``group_by``."""
    return GroupKey(
        hostname=snapshot.hostname if "host" in group_by else None,
        paths=tuple(sorted(set(snapshot.paths))) if "paths" in group_by else None,
        tags=tuple(sorted(set(snapshot.tags))) if "tags" in group_by else None,
    )


def _instant(moment: datetime) -> datetime:
    """Return ``moment`` as a comparable point in time (a time without a zone is taken as UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def newest_first(snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    """Return the snapshots sorted newest first; snapshots of the same time by descending ID."""
    return sorted(snapshots, key=lambda snapshot: (_instant(snapshot.time), snapshot.id), reverse=True)


def period_of(period: str, moment: datetime) -> tuple[tuple[int, ...], str]:
    """Return the ``hourly``, ``daily``, ``weekly``, ``monthly`` or ``yearly`` period of a moment.

    Returns:
        A key equal for moments in the same period, and a label such as ``2026-11-20``, ``2026-W47``.
    """
    year, month, day = moment.year, moment.month, moment.day
    if period == "hourly":
        return (year, month, day, moment.hour), f"{year:04d}-{month:02d}-{day:02d} {moment.hour:02d}h"
    if period == "daily":
        return (year, month, day), f"{year:04d}-{month:02d}-{day:02d}"
    if period == "weekly":
        week_year, week, _weekday = moment.isocalendar()
        return (week_year, week), f"{week_year:04d}-W{week:02d}"
    if period == "monthly":
        return (year, month), f"{year:04d}-{month:02d}"
    return (year,), f"{year:04d}"


@dataclass(slots=True)
class _CountedRule:
    """The running state of one counted rule while a group is walked newest first."""

    name: str
    limit: int
    kept: int = 0
    last_period: tuple[int, ...] | None = None

    def reason(self, moment: datetime, is_oldest: bool) -> str | None:
        """Return why the rule keeps the next snapshot, or None when it does not."""
        if self.limit != UNLIMITED and self.kept >= self.limit:
            return None
        if self.name == "last":
            self.kept += 1
            return f"last #{self.kept}"
        period, label = period_of(self.name, moment)
        if period == self.last_period:
            if not is_oldest:
                return None
            label += ", oldest"
        self.last_period = period
        self.kept += 1
        return f"{self.name} #{self.kept} ({label})"


@dataclass(slots=True)
class _WithinPeriodRule:
    """The running state of one ``keep_within_<period>`` rule while a group is walked newest first."""

    name: str
    duration: Duration
    cutoff: datetime | None
    last_period: tuple[int, ...] | None = None

    def reason(self, moment: datetime) -> str | None:
        """Return why the rule keeps the next snapshot, or None when it does not."""
        if not _newer_than(moment, self.cutoff):
            return None
        period, label = period_of(self.name, moment)
        if period == self.last_period:
            return None
        self.last_period = period
        return f"{self.name} within {self.duration} ({label})"


def _newer_than(moment: datetime, cutoff: datetime | None) -> bool:
    """Return True when ``moment`` is after ``cutoff`` (None: a cutoff before every moment)."""
    return cutoff is None or _instant(moment) > _instant(cutoff)


def _reference_time(snapshots: Sequence[Snapshot], now: datetime) -> datetime:
    """Return the newest snapshot time that is not after ``now`` (``now`` when every one is after it)."""
    for snapshot in snapshots:
        if _instant(snapshot.time) <= now:
            return snapshot.time
    return now


def _decide_group(
    ordered: Sequence[Snapshot], policy: RetentionPolicy, now: datetime
) -> tuple[Decision, ...]:
    """Return the decision for each snapshot of one group, given newest first."""
    reference = _reference_time(ordered, now)
    within = policy.within()
    within_cutoff = within.before(reference) if within is not None else None
    counted = [_CountedRule(rule, policy.count(rule)) for rule in COUNTED_RULES if policy.count(rule) != 0]
    within_rules = [
        _WithinPeriodRule(period, duration, duration.before(reference))
        for period in PERIODS
        if (duration := policy.within(period)) is not None
    ]
    decisions = []
    for position, snapshot in enumerate(ordered):
        reasons = [f"tag '{tag}'" for tag in sorted(policy.keep_tags) if tag in snapshot.tags]
        if within is not None and _newer_than(snapshot.time, within_cutoff):
            reasons.append(f"within {within}")
        is_oldest = position == len(ordered) - 1
        reasons += [reason for rule in counted if (reason := rule.reason(snapshot.time, is_oldest))]
        reasons += [reason for rule in within_rules if (reason := rule.reason(snapshot.time))]
        keep = bool(reasons)
        decisions.append(Decision(snapshot, keep, tuple(reasons) if keep else (NO_RULE_KEEPS_IT,)))
    return tuple(decisions)


def apply_policy(
    snapshots: Iterable[Snapshot],
    policy: RetentionPolicy,
    *,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    clock: Clock = SYSTEM_CLOCK,
) -> list[GroupDecision]:
    """Decide which snapshots the policy keeps, group by group. Nothing is removed here.

    Args:
        snapshots: the snapshots to consider (already filtered by host, path or tag if wanted).
        policy: the rules.
        group_by: any of ``host``, ``paths``, ``tags``; empty for a single group of every snapshot.
        clock: tells which snapshots are in the future (see the module docstring on ``keep_within``).

    Returns:
        One entry per group, in the order of their keys, each with its snapshots newest first.

    Raises:
        UsageError: the policy is empty (it would remove everything), or a grouping field is unknown.
    """
    if policy.is_empty:
        raise UsageError("the policy keeps nothing: every snapshot would be removed", EMPTY_POLICY_HINT)
    unknown = sorted(set(group_by) - set(GROUP_FIELDS))
    if unknown:
        raise UsageError(f"cannot group by {', '.join(unknown)}", "group by any of host, paths, tags")
    groups: dict[GroupKey, list[Snapshot]] = {}
    for snapshot in snapshots:
        groups.setdefault(group_key(snapshot, group_by), []).append(snapshot)
    now = clock.now()

    def order(key: GroupKey) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        return (key.hostname or "", key.paths or (), key.tags or ())

    return [
        GroupDecision(key, _decide_group(newest_first(groups[key]), policy, now))
        for key in sorted(groups, key=order)
    ]


def forget_snapshots(
    repository: Repository,
    snapshot_ids: Iterable[str],
    on_removed: Callable[[str], None] | None = None,
) -> list[str]:
    """Remove the snapshot objects ``snapshots/<id>``; the data they refer to stays until ``prune``.

    Removing a snapshot that is already gone is not an error (another ``forget`` may have removed it).

    Args:
        repository: the open repository (the caller holds a lock on it).
        snapshot_ids: full snapshot IDs (64 hex digits).
        on_removed: told each ID once its object is removed.

    Returns:
        The IDs removed, in the order given.

    Raises:
        UsageError: an ID is not a full snapshot ID (nothing is removed then).
        StorageError: an object could not be removed (those before it are removed).
    """
    identifiers = list(dict.fromkeys(snapshot_ids))
    malformed = [identifier for identifier in identifiers if not _SNAPSHOT_ID.fullmatch(identifier)]
    if malformed:
        raise UsageError(
            f"{malformed[0]!r} is not a full snapshot ID", "resolve prefixes with find_snapshot first"
        )
    removed = []
    for identifier in identifiers:
        repository.storage.remove(SNAPSHOTS_PREFIX + identifier)
        removed.append(identifier)
        if on_removed is not None:
            on_removed(identifier)
    return removed
