"""The ``repair index`` and ``repair snapshots`` commands: rebuild the index, rewrite damaged snapshots.

Both exit 0 when the repair ran to its end, even when data was found lost: the lost data was gone
before the repair, which only makes the repository consistent again and says plainly what is gone
(``lost`` in the text output, ``lost_blobs`` and ``paths_lost`` in the JSON summary).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from resguardo.cli.output import Output, format_size, format_time
from resguardo.cli.session import opened_repository, settings_of
from resguardo.cli.snapshot_filters import HostFilter, PathFilter, TagFilter

if TYPE_CHECKING:
    from resguardo.engine.repair import IndexRepairReport, SnapshotRepairReport
    from resguardo.engine.repository import Repository
    from resguardo.engine.snapshot import LostPath

repair_app = typer.Typer(
    help="Repair a damaged repository: rebuild the index, rewrite snapshots that refer to lost data.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def repair_index(
    ctx: typer.Context,
    read_all_packs: Annotated[
        bool,
        typer.Option(
            "--read-all-packs",
            help="Read every pack whole; leave damaged blobs out of the index (reads the whole repository).",
        ),
    ] = False,
) -> None:
    """Rebuild the index from the packs' own headers, then remove the old index files.

    \f
    Raises:
        RepositoryLocked: another process holds a lock (this needs an exclusive one).
        StorageError: storage failed; the old index files are then still in place.
    """
    from resguardo.cli.progress import reporting
    from resguardo.engine.repair import repair_index as run_repair

    settings = settings_of(ctx)
    output = settings.output
    with (
        opened_repository(settings, with_index=False) as repository,
        reporting(output, "repair index", unit="packs") as reporter,
    ):
        report = run_repair(repository, read_all_packs=read_all_packs, reporter=reporter)
    _print_index_report(output, report)


def _print_index_report(output: Output, report: IndexRepairReport) -> None:
    """Print what was left out and lost, and a closing line (or one JSON summary)."""
    if output.json_mode:
        output.json_line("summary", {"operation": "repair index", **report.to_json()})
        return
    for name in report.missing_packs:
        output.result(f"missing: pack {name} (the old index listed it)")
    for name, reason in sorted(report.unreadable_packs.items()):
        output.result(f"unreadable: pack {name}: {reason} (left out)")
    for name in report.salvaged_packs:
        output.result(
            f"salvaged: pack {name}: its header is damaged; the old index's blobs that verify are kept"
        )
    for blob, reason in sorted(report.damaged_blobs.items()):
        output.result(f"damaged: blob {blob}: {reason} (left out)")
    for name in report.damaged_index_files:
        output.result(f"damaged: index file {name} (replaced)")
    if report.unchanged:
        output.summary(
            f"the index already lists every pack exactly: {report.packs_indexed} packs, nothing to do"
        )
    else:
        output.summary(
            f"index rebuilt: {report.packs_indexed} packs and {report.blobs_indexed} blobs in "
            f"{len(report.index_files_written)} new index files; "
            f"{len(report.index_files_removed)} old index files removed"
        )
    if report.lost_blobs:
        output.result(
            f"lost: {len(report.lost_blobs)} blobs the old index listed are in no readable pack; "
            "run 'resguardo repair snapshots' to rewrite the snapshots that use them"
        )


def repair_snapshots(
    ctx: typer.Context,
    snapshot_ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[ID]...", help="Snapshots to repair ('latest' or ID prefixes; default: all)."
        ),
    ] = None,
    *,
    host: HostFilter = None,
    tag: TagFilter = None,
    path: PathFilter = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Show what would be repaired; write and remove nothing.")
    ] = False,
    keep_originals: Annotated[
        bool, typer.Option("--keep-originals", help="Keep each original snapshot beside its repaired copy.")
    ] = False,
) -> None:
    """Rewrite snapshots that refer to lost data: what remains is kept, what was lost is renamed '.damaged'.

    Run 'resguardo repair index' first.

    \f
    Raises:
        SnapshotNotFound: an ID matches no snapshot, or several.
        ResguardoError: the index lists packs that are not in storage.
        RepositoryLocked: another process holds an exclusive lock.
    """
    from resguardo.cli.progress import reporting
    from resguardo.engine.repair import repair_snapshots as run_repair

    settings = settings_of(ctx)
    output = settings.output
    with opened_repository(settings) as repository:
        chosen = _chosen_ids(repository, snapshot_ids or [], host, tag or [], path or [])
        with reporting(output, "repair snapshots", unit="snapshots") as reporter:
            report = run_repair(
                repository,
                snapshot_ids=chosen,
                dry_run=dry_run,
                forget_originals=not keep_originals,
                reporter=reporter,
            )
    _print_snapshot_report(output, report)


def _chosen_ids(
    repository: Repository, references: list[str], host: str | None, tags: list[str], paths: list[str]
) -> list[str] | None:
    """Return the full IDs the arguments and filters choose, or None for every snapshot.

    Raises:
        SnapshotNotFound: a reference matches no snapshot, or several.
    """
    from resguardo.cli.commands_browse import select_snapshots
    from resguardo.engine.snapshot import find_snapshot, list_snapshots

    if not references and host is None and not tags and not paths:
        return None
    if references:
        candidates = [find_snapshot(repository, reference) for reference in references]
    else:
        candidates = list_snapshots(repository)
    return [snapshot.id for snapshot in select_snapshots(candidates, host, tags, paths)]


def _print_snapshot_report(output: Output, report: SnapshotRepairReport) -> None:
    """Print every snapshot repaired with what it lost, and a closing line (or one JSON summary)."""
    if output.json_mode:
        output.json_line("summary", {"operation": "repair snapshots", **report.to_json()})
        return
    for entry in report.repaired:
        original = entry.original
        where = f"{format_time(original.time)} {original.hostname} {', '.join(original.paths)}"
        if report.dry_run:
            output.result(f"snapshot {original.short_id} ({where}) would be repaired:")
        else:
            fate = "removed" if entry.original_removed else "kept"
            copy = entry.repaired_id[:8]
            output.result(f"snapshot {original.short_id} ({where}) repaired as {copy} (original {fate}):")
        for lost in entry.lost:
            output.result(f"  lost: {_describe_loss(lost)}")
    for original_id, copy_id in report.finished.items():
        output.result(f"snapshot {original_id[:8]} was repaired earlier as {copy_id[:8]}")
    verdict = (
        f"{len(report.repaired)} repaired" if not report.dry_run else f"{len(report.repaired)} to repair"
    )
    output.summary(
        f"{_count(report.snapshots_checked, 'snapshot')} checked: {verdict}, {report.unchanged} unchanged; "
        f"{_count(report.paths_lost, 'path')} lost"
        + (" (dry run: nothing was written)" if report.dry_run else "")
    )


def _describe_loss(lost: LostPath) -> str:
    """Return one line naming a lost path, where what is left of it is, and what is missing."""
    place = lost.path if lost.marked_as == lost.path else f"{lost.path} -> {lost.marked_as}"
    if lost.type == "dir":
        return f"{place} (directory emptied: {lost.reason})"
    return f"{place} ({_count(lost.missing_blobs, 'blob')}, {format_size(lost.bytes_lost)} missing)"


def _count(number: int, noun: str) -> str:
    """Return ``number`` and ``noun``, in the plural unless the number is 1."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    repair_app.command("index")(repair_index)
    repair_app.command("snapshots")(repair_snapshots)
    app.add_typer(repair_app, name="repair")
