"""The ``prune`` command: reclaim the space of data no snapshot needs, beside running backups."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from resguardo.cli.output import Output, format_duration, format_size
from resguardo.cli.session import opened_repository, settings_of

if TYPE_CHECKING:
    from resguardo.engine.locks import LockInfo
    from resguardo.engine.prune import PruneReport


def prune(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Show what would be deleted and repacked; change nothing.")
    ] = False,
    max_unused: Annotated[
        float,
        typer.Option(
            "--max-unused",
            metavar="PERCENT",
            min=0,
            max=100,
            help="Repack until at most PERCENT of the stored bytes are unused (0: reclaim everything).",
        ),
    ] = 5,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            min=0,
            help="Wait up to SECONDS for sessions older than the plan (default: the next prune finishes).",
        ),
    ] = 0,
) -> None:
    """Delete data that no snapshot needs and repack mostly-empty packs; backups may keep running.

    Prune publishes a plan, then deletes only once every backup, restore or check that was running
    when the plan was published has ended. If some still run, the plan waits: a later prune (or
    this one with --wait) completes it.

    \f
    Raises:
        RepositoryLocked: another prune, or an exclusive operation, holds the repository.
        PruneRefused: a snapshot, tree or index file is damaged (nothing is deleted).
    """
    from resguardo.engine.locks import PRUNE, locked
    from resguardo.engine.prune import PruneOptions
    from resguardo.engine.prune import prune as run_prune

    settings = settings_of(ctx)
    output = settings.output
    options = PruneOptions(max_unused=max_unused / 100, dry_run=dry_run, wait_seconds=wait)

    def on_stale(lock: LockInfo) -> None:
        output.warning(f"ignoring a stale {lock.describe()}; 'resguardo unlock' removes it", operation="lock")

    with (
        opened_repository(settings, with_index=False) as repository,
        locked(repository, kind=PRUNE, on_stale=on_stale) as lock,
    ):
        report = run_prune(repository, lock.session, options)
    _print_report(output, report)


def _print_report(output: Output, report: PruneReport) -> None:
    """Print what prune did, would do, or is waiting for (or one JSON summary)."""
    if output.json_mode:
        document = asdict(report)
        document["finished"] = report.finished
        document["packs_retained"] = [{"pack": name, "until": until} for name, until in report.packs_retained]
        output.json_line("summary", {"operation": "prune", **document})
        return
    for plan_id in report.plans_void:
        output.result(f"removed plan {plan_id[:8]} left by a prune that stopped before deleting anything")
    for name, until in report.packs_retained:
        output.result(f"kept {name}: protected by Object Lock until {until}")
    if report.packs_rescued:
        output.result(f"kept {report.packs_rescued} packs that backups finished meanwhile refer to")
    if report.dry_run:
        output.result(f"{format_size(report.bytes_unused)} of the stored data is unused")
        output.summary(
            f"would delete {report.packs_deleted} of {report.packs} packs"
            f" ({format_size(report.bytes_deleted)}), repacking {report.packs_repacked} of them"
            f" ({format_size(report.bytes_repacked)} to read)"
        )
        return
    done = (
        f"deleted {report.packs_deleted} packs ({format_size(report.bytes_deleted)}), "
        f"repacked {report.packs_repacked} ({format_size(report.bytes_repacked)} read), "
        f"rewrote {report.index_files_rewritten} index files in {format_duration(report.seconds)}"
    )
    if report.finished:
        output.summary(done if report.plans_finished else "nothing to prune: every pack is in use")
        return
    output.result(f"plan {report.plan_waiting[:8]} waits for sessions that began before it:")
    for description in report.waiting_for:
        output.result(f"  {description}")
    output.summary(
        (done + "; " if report.plans_finished else "")
        + "the rest is deleted by the next 'resguardo prune' once they end (or use --wait SECONDS)"
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(prune)
