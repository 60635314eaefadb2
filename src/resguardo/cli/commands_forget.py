"""The ``forget`` command: remove snapshots by a retention policy or by ID; the data stays until ``prune``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from resguardo.cli.session import opened_repository, settings_of, shared_lock
from resguardo.cli.snapshot_filters import HostFilter, PathFilter, TagFilter

if TYPE_CHECKING:
    from resguardo.cli.output import Output
    from resguardo.engine.repository import Repository
    from resguardo.engine.retention import GroupDecision, RetentionPolicy

NAMED = "named on the command line"
PRUNE_HINT = "run 'resguardo prune' to reclaim the space"
_COUNT = "N"
_DURATION = "DURATION"


def _count_option(name: str, short: str, what: str) -> Any:
    return typer.Option(name, short, metavar=_COUNT, help=f"Keep the {what} (-1: all).", show_default=False)


def _within_option(name: str, what: str, example: str = "") -> Any:
    text = f"Keep the {what} newer than the newest snapshot minus DURATION.{example}"
    return typer.Option(name, metavar=_DURATION, help=text)


def _policy(counts: dict[str, int], within: dict[str, str | None], keep_tags: list[str]) -> RetentionPolicy:
    """Return the policy the options describe.

    Raises:
        UsageError: a count is below -1, or a duration is malformed.
    """
    from resguardo.core.errors import UsageError
    from resguardo.engine.durations import parse_duration
    from resguardo.engine.retention import RetentionPolicy

    durations = {}
    for name, text in within.items():
        if text is not None:
            try:
                durations[name] = parse_duration(text)
            except UsageError as error:
                option = "--" + name.replace("_", "-")
                raise UsageError(f"{option}: {error.message}", error.hint) from None
    return RetentionPolicy(**counts, **durations, keep_tags=frozenset(keep_tags))  # type: ignore[arg-type]


def _check_arguments(
    snapshot_ids: list[str], policy: RetentionPolicy, filters: bool, group_by: str | None
) -> None:
    """Refuse IDs given with a policy, a filter or a grouping, and a policy that keeps nothing.

    Raises:
        UsageError: one of those.
    """
    from resguardo.core.errors import UsageError
    from resguardo.engine.retention import EMPTY_POLICY_HINT

    if snapshot_ids:
        if not policy.is_empty:
            raise UsageError("give snapshot IDs or --keep-* options, not both")
        if filters or group_by is not None:
            raise UsageError(
                "--host, --tag, --path and --group-by apply to a policy, not to snapshot IDs",
                "give only the IDs to forget them, or --keep-* options to apply a policy",
            )
    elif policy.is_empty:
        raise UsageError("no policy given: every snapshot would be removed", EMPTY_POLICY_HINT)


def forget(
    ctx: typer.Context,
    *,
    snapshot_ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[SNAPSHOT...]", help="Forget these snapshots (IDs or prefixes).", show_default=False
        ),
    ] = None,
    keep_last: Annotated[int, _count_option("--keep-last", "-l", "N newest snapshots")] = 0,
    keep_hourly: Annotated[int, _count_option("--keep-hourly", "-H", "newest snapshot of N hours")] = 0,
    keep_daily: Annotated[int, _count_option("--keep-daily", "-d", "newest snapshot of N days")] = 0,
    keep_weekly: Annotated[int, _count_option("--keep-weekly", "-w", "newest snapshot of N ISO weeks")] = 0,
    keep_monthly: Annotated[int, _count_option("--keep-monthly", "-m", "newest snapshot of N months")] = 0,
    keep_yearly: Annotated[int, _count_option("--keep-yearly", "-y", "newest snapshot of N years")] = 0,
    keep_within: Annotated[
        str | None, _within_option("--keep-within", "snapshots", " Example: 1y6m, 30d, 12h.")
    ] = None,
    keep_within_hourly: Annotated[
        str | None, _within_option("--keep-within-hourly", "newest snapshot of each hour")
    ] = None,
    keep_within_daily: Annotated[
        str | None, _within_option("--keep-within-daily", "newest snapshot of each day")
    ] = None,
    keep_within_weekly: Annotated[
        str | None, _within_option("--keep-within-weekly", "newest snapshot of each week")
    ] = None,
    keep_within_monthly: Annotated[
        str | None, _within_option("--keep-within-monthly", "newest snapshot of each month")
    ] = None,
    keep_within_yearly: Annotated[
        str | None, _within_option("--keep-within-yearly", "newest snapshot of each year")
    ] = None,
    keep_tag: Annotated[
        list[str] | None,
        typer.Option(
            "--keep-tag", metavar="TAG", help="Keep snapshots with this tag (repeatable: any of them)."
        ),
    ] = None,
    group_by: Annotated[
        str | None,
        typer.Option(
            "--group-by",
            metavar="FIELDS",
            help="Apply the policy per group of host,paths,tags ('' for one). [default: host,paths]",
        ),
    ] = None,
    host: HostFilter = None,
    tag: TagFilter = None,
    path: PathFilter = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Show what would be kept and removed; change nothing.")
    ] = False,
) -> None:
    """Remove snapshots by a retention policy (--keep-*) or by ID. The data stays until 'resguardo prune'.

    \f
    Raises:
        UsageError: IDs with a policy, no policy, a bad count, duration or grouping.
        SnapshotNotFound: an ID matches no snapshot, or several.
        RepositoryLocked: another process holds an exclusive lock.
        StorageError: a snapshot could not be removed.
    """
    from resguardo.engine.retention import DEFAULT_GROUP_BY, parse_group_by

    counts = {
        "keep_last": keep_last,
        "keep_hourly": keep_hourly,
        "keep_daily": keep_daily,
        "keep_weekly": keep_weekly,
        "keep_monthly": keep_monthly,
        "keep_yearly": keep_yearly,
    }
    within = {
        "keep_within": keep_within,
        "keep_within_hourly": keep_within_hourly,
        "keep_within_daily": keep_within_daily,
        "keep_within_weekly": keep_within_weekly,
        "keep_within_monthly": keep_within_monthly,
        "keep_within_yearly": keep_within_yearly,
    }
    references = snapshot_ids or []
    policy = _policy(counts, within, keep_tag or [])
    _check_arguments(references, policy, bool(host or tag or path), group_by)
    fields = DEFAULT_GROUP_BY if group_by is None else parse_group_by(group_by)
    settings = settings_of(ctx)
    output = settings.output
    with opened_repository(settings, with_index=False) as repository:
        if dry_run:
            groups = _decide(repository, references, policy, fields, (host, tag or [], path or []))
            removed: list[str] = []
        else:
            with shared_lock(repository, output):
                groups = _decide(repository, references, policy, fields, (host, tag or [], path or []))
                removed = _remove(repository, groups)
    _report(
        output,
        groups,
        policy=None if references else policy,
        group_by=fields,
        dry_run=dry_run,
        removed=removed,
    )


def _decide(
    repository: Repository,
    references: list[str],
    policy: RetentionPolicy,
    group_by: tuple[str, ...],
    filters: tuple[str | None, list[str], list[str]],
) -> list[GroupDecision]:
    """Return the decisions: by the policy for the snapshots the filters select, or removal of the IDs.

    Raises:
        SnapshotNotFound: an ID matches no snapshot, or several.
    """
    from resguardo.cli.commands_browse import select_snapshots
    from resguardo.engine.retention import Decision, GroupDecision, GroupKey, apply_policy, newest_first
    from resguardo.engine.snapshot import find_snapshot, list_snapshots

    if references:
        named = {
            snapshot.id: snapshot for snapshot in (find_snapshot(repository, item) for item in references)
        }
        decisions = tuple(Decision(snapshot, False, (NAMED,)) for snapshot in newest_first(named.values()))
        return [GroupDecision(GroupKey(), decisions)]
    host, tags, paths = filters
    chosen = select_snapshots(list_snapshots(repository), host, tags, paths)
    return apply_policy(chosen, policy, group_by=group_by, clock=repository.clock)


def _remove(repository: Repository, groups: list[GroupDecision]) -> list[str]:
    """Remove the snapshot objects of every snapshot the decisions remove; return their IDs."""
    from resguardo.engine.retention import forget_snapshots

    return forget_snapshots(repository, [snapshot.id for group in groups for snapshot in group.removed])


def _report(
    output: Output,
    groups: list[GroupDecision],
    *,
    policy: RetentionPolicy | None,
    group_by: tuple[str, ...],
    dry_run: bool,
    removed: list[str],
) -> None:
    """Print the decisions (a table per group, or one JSON document) and what was, or would be, removed."""
    from resguardo.cli.forget_output import describe_group, render_group

    to_remove = [snapshot.id for group in groups for snapshot in group.removed]
    total = sum(len(group.decisions) for group in groups)
    if output.json_mode:
        output.json_document(
            {
                "dry_run": dry_run,
                "policy": policy.to_json() if policy is not None else None,
                "group_by": list(group_by) if policy is not None else None,
                "groups": [group.to_json() for group in groups],
                "remove": to_remove,
                "removed": removed,
            }
        )
        return
    if dry_run or not output.quiet:
        for number, group in enumerate(groups):
            output.result(("\n" if number else "") + describe_group(group, policy is not None))
            output.result(render_group(group))
    if not total:
        output.summary("no snapshot matches: nothing to do")
    elif dry_run:
        output.summary(f"would remove {len(to_remove)} of {total} snapshots (dry run: nothing was changed)")
    elif removed:
        output.summary(f"removed {len(removed)} of {total} snapshots; {PRUNE_HINT}")
    else:
        output.summary(f"removed none of {total} snapshots: the policy keeps them all")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(forget)
