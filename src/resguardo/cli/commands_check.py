"""The ``check`` command: is the repository intact, and which snapshot paths does any damage affect?"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Annotated

import typer

from resguardo.cli.output import Output, format_duration, format_size
from resguardo.cli.session import opened_repository, settings_of, shared_lock

if TYPE_CHECKING:
    from resguardo.engine.checker import AffectedPath, CheckReport


def check(
    ctx: typer.Context,
    read_data: Annotated[
        bool, typer.Option("--read-data", help="Read and verify every stored byte.")
    ] = False,
    read_data_subset: Annotated[
        str | None,
        typer.Option(
            "--read-data-subset",
            metavar="N%|n/t",
            help="Read only some packs: a random N percent, or group n of t (1/t .. t/t cover them all).",
        ),
    ] = None,
) -> None:
    """Check the repository's structure and, when asked, its data; exit 1 when anything is wrong.

    \f
    Raises:
        UsageError, ConfigurationError: both options, or a malformed subset.
        RepositoryLocked: another process holds an exclusive lock.
        ResguardoError: the check found errors (after they are printed).
    """
    from resguardo.cli.progress import reporting
    from resguardo.core.errors import ResguardoError, UsageError
    from resguardo.engine.checker import check as run_check
    from resguardo.engine.checker import parse_subset

    settings = settings_of(ctx)
    output = settings.output
    if read_data and read_data_subset is not None:
        raise UsageError("give --read-data or --read-data-subset, not both")
    if read_data_subset is not None:
        parse_subset(read_data_subset)
    with (
        opened_repository(settings) as repository,
        shared_lock(repository, output),
        reporting(output, "check", unit="", show_warnings=False) as reporter,
    ):
        report = run_check(repository, read_data=read_data, subset=read_data_subset, reporter=reporter)
    _print_report(output, report)
    if not report.ok:
        count = len(report.errors)
        snapshots = len(report.affected_snapshots())
        raise ResguardoError(
            f"the repository has {count} error{'s' if count != 1 else ''}"
            f" affecting {snapshots} snapshot{'s' if snapshots != 1 else ''}",
            "restore what is affected from another copy; the paths are listed above",
        )


def _print_report(output: Output, report: CheckReport) -> None:
    """Print every error with what it affects, the warnings, and a closing line (or one JSON summary)."""
    if output.json_mode:
        document = report.to_json()
        document["affected_snapshots"] = sorted(report.affected_snapshots())
        output.json_line("summary", {"operation": "check", **document})
        return
    errors_named = {problem.name for problem in report.errors}
    for problem in report.errors:
        output.result(f"error: {problem.kind} {problem.name}: {problem.message}")
        for line in _affected_lines(report.affected.get(problem.name, [])):
            output.result(line)
    rest = [item for name, items in report.affected.items() if name not in errors_named for item in items]
    if rest:
        output.result("paths that the errors above make unrestorable:")
        for line in _affected_lines(rest):
            output.result(line)
    for problem in report.warnings:
        output.result(f"warning: {problem.kind} {problem.name}: {problem.message}")
    counts = report.counts
    scope = "structure"
    if report.read_data:
        scope = f"structure and data ({counts.packs_read} of {counts.packs} packs"
        scope += f", subset {report.subset})" if report.subset else ")"
    verdict = "no errors found" if report.ok else f"{len(report.errors)} errors found"
    output.summary(
        f"checked {scope}: {counts.snapshots} snapshots, {counts.trees} trees, "
        f"{format_size(counts.bytes_read)} read in {format_duration(report.seconds)}: {verdict}"
    )


def _affected_lines(items: list[AffectedPath]) -> list[str]:
    """Return indented lines naming, per snapshot, the paths that a damaged object affects."""
    by_snapshot: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_snapshot[item.snapshot].append(item.path)
    lines = []
    for snapshot, paths in by_snapshot.items():
        lines.append(f"  snapshot {snapshot}:")
        lines.extend(f"    {path}" for path in sorted(set(paths)))
    return lines


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(check)
