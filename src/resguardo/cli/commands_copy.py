"""The ``copy`` command: snapshots of another repository (``--from-repo``) into this one (``--repo``)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resguardo.cli.output import Output, format_size, format_time
from resguardo.cli.passphrases import SOURCE_PASSWORD_FILE_ENV
from resguardo.cli.session import Settings, cache_directory, opened_repository, settings_of, shared_lock
from resguardo.cli.snapshot_filters import HostFilter, PathFilter, TagFilter

if TYPE_CHECKING:
    from resguardo.engine.copier import CopyPlan, CopyResult
    from resguardo.engine.repository import Repository
    from resguardo.engine.snapshot import Snapshot

SOURCE_REPOSITORY_ENV = "RESGUARDO_FROM_REPOSITORY"


def _normalized_location(location: str) -> str:
    """Return a location in a form where two spellings of one local directory compare equal."""
    path = location.removeprefix("local:")
    return location if "://" in location else os.path.realpath(path)


@contextmanager
def _opened_source(
    settings: Settings, location: str, password_file: str | None, *, with_index: bool
) -> Iterator[Repository]:
    """Open the repository to copy from with its own passphrase; close its storage afterwards.

    The global storage options (``--s3-endpoint``, ``--sftp-key``, ``--sftp-known-hosts``) apply to
    it as to the destination.

    Raises:
        RepositoryNotFound: there is no repository at ``location``.
        UsageError: no passphrase for it is available.
        WrongPassphrase: its passphrase opens none of its key slots.
    """
    from resguardo.cli.passphrases import source_passphrase
    from resguardo.cli.session import open_storage
    from resguardo.core.errors import RepositoryNotFound, WrongPassphrase
    from resguardo.engine.repository import CONFIG_NAME, Repository

    storage = open_storage(dataclasses.replace(settings, repository=location))
    try:
        if not storage.exists(CONFIG_NAME):
            raise RepositoryNotFound(
                f"there is no repository at {storage.location} (the source, --from-repo)",
                f"check --from-repo / {SOURCE_REPOSITORY_ENV}",
            )
        passphrase = source_passphrase(password_file)
        try:
            repository = Repository.open(storage, passphrase, with_index=with_index)
        except WrongPassphrase:
            raise WrongPassphrase(
                f"wrong passphrase for the source repository at {storage.location}",
                f"check --from-password-file / {SOURCE_PASSWORD_FILE_ENV} (or RESGUARDO_FROM_PASSWORD)",
            ) from None
        yield repository
    finally:
        storage.close()


def _chosen_snapshots(
    source: Repository, references: list[str], host: str | None, tags: list[str], paths: list[str]
) -> list[Snapshot]:
    """Return the source's snapshots that the IDs and filters choose.

    Without IDs, every snapshot that matches the filters; ``latest`` is the latest of those; an
    explicit ID must match the filters too.

    Raises:
        SnapshotNotFound: an ID matches nothing, or nothing matches the filters.
        UsageError: an explicit ID does not match the filters.
    """
    from resguardo.core.errors import SnapshotNotFound, UsageError
    from resguardo.engine.snapshot import find_snapshot, list_snapshots, select_snapshots

    normalized = [os.path.normpath(os.path.abspath(path)) for path in paths]
    matching = select_snapshots(list_snapshots(source), host, tags, normalized)
    if not references:
        return matching
    hint = "list them with 'resguardo --repo SOURCE snapshots'"
    chosen = []
    for reference in references:
        if reference == "latest":
            if not matching:
                raise SnapshotNotFound("the source repository has no snapshot matching the filters", hint)
            chosen.append(matching[-1])
            continue
        try:
            snapshot = find_snapshot(source, reference)
        except SnapshotNotFound as error:
            raise SnapshotNotFound(f"in the source repository, {error.message}", error.hint or hint) from None
        if all(candidate.id != snapshot.id for candidate in matching):
            raise UsageError(
                f"snapshot {snapshot.short_id} does not match --host, --tag and --path",
                "drop the filters, or the ID",
            )
        chosen.append(snapshot)
    return chosen


def copy(
    ctx: typer.Context,
    *,
    snapshot_ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="[SNAPSHOT...]", help="Snapshot IDs (prefixes) or 'latest'. Default: all."),
    ] = None,
    from_repo: Annotated[
        str | None,
        typer.Option(
            "--from-repo",
            metavar="PATH",
            envvar=SOURCE_REPOSITORY_ENV,
            show_envvar=True,
            help="The repository to copy from (--repo is the one copied into).",
        ),
    ] = None,
    from_password_file: Annotated[
        str | None,
        typer.Option(
            "--from-password-file",
            metavar="FILE",
            envvar=SOURCE_PASSWORD_FILE_ENV,
            show_envvar=True,
            help="File holding the source's passphrase (else RESGUARDO_FROM_PASSWORD, else a prompt).",
        ),
    ] = None,
    host: HostFilter = None,
    tag: TagFilter = None,
    path: PathFilter = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say which snapshots would be copied.")
    ] = False,
) -> None:
    """Copy snapshots from another repository into this one, sending only what this one lacks.

    Snapshots copied before are skipped, so the command can be run again at any time, and resumes
    after an interruption.

    \f
    Raises:
        UsageError: no --from-repo, the same repository twice, or an ID outside the filters.
        RepositoryNotFound, WrongPassphrase: a repository cannot be opened.
        SnapshotNotFound: an ID matches no snapshot of the source.
        RepositoryLocked: another process holds an exclusive lock on either repository.
        IntegrityError: the source's data for a snapshot is damaged (earlier copies are kept).
    """
    from resguardo.core.errors import UsageError

    settings = settings_of(ctx)
    output = settings.output
    if not from_repo:
        raise UsageError(
            "no repository to copy from", f"pass --from-repo PATH (or set {SOURCE_REPOSITORY_ENV})"
        )
    if settings.repository and _normalized_location(from_repo) == _normalized_location(settings.repository):
        raise UsageError("--from-repo and --repo name the same repository", "copy into another repository")
    with (
        _opened_source(settings, from_repo, from_password_file, with_index=not dry_run) as source,
        opened_repository(settings, with_index=not dry_run) as destination,
        shared_lock(source, output),
        shared_lock(destination, output),
    ):
        chosen = _chosen_snapshots(source, snapshot_ids or [], host, tag or [], path or [])
        if dry_run:
            from resguardo.engine.copier import plan_copy

            _print_plan(output, plan_copy(source, destination, chosen))
            return
        result = _run_copy(output, source, destination, chosen)
    _print_result(output, result)


def _run_copy(
    output: Output, source: Repository, destination: Repository, chosen: list[Snapshot]
) -> CopyResult:
    """Copy with a progress display; return what was done."""
    from resguardo.cli.progress import reporting
    from resguardo.engine.copier import copy_snapshots

    with reporting(output, "copy") as reporter:
        return copy_snapshots(source, destination, chosen, cache_dir=cache_directory(), reporter=reporter)


def _snapshot_line(snapshot: Snapshot) -> str:
    return (
        f"{snapshot.short_id}  {format_time(snapshot.time)}  {snapshot.hostname}  {', '.join(snapshot.paths)}"
    )


def _print_plan(output: Output, plan: CopyPlan) -> None:
    """Print which snapshots a copy would copy and which are there already."""
    if output.json_mode:
        document: dict[str, Any] = {
            "operation": "copy",
            "dry_run": True,
            "to_copy": [snapshot.id for snapshot in plan.to_copy],
            "already_copied": [
                {"source_id": snapshot.id, "copy_id": copy_id} for snapshot, copy_id in plan.already_copied
            ],
        }
        output.json_line("summary", document)
        return
    for snapshot in plan.to_copy:
        output.result(f"would copy {_snapshot_line(snapshot)}")
    for snapshot, copy_id in plan.already_copied:
        output.result(f"already copied {snapshot.short_id} as {copy_id[:8]}")
    output.summary(f"{len(plan.to_copy)} to copy, {len(plan.already_copied)} already copied (dry run)")


def _print_result(output: Output, result: CopyResult) -> None:
    """Print what the copy did: a JSON ``summary`` line, or a few lines of text."""
    if output.json_mode:
        output.json_line("summary", {"operation": "copy", "dry_run": False, **result.to_json()})
        return
    for source, copy in result.copied:
        output.result(f"copied {source.short_id} as {copy.short_id}")
    output.summary(
        f"Snapshots:  {len(result.copied)} copied, {len(result.skipped)} already copied\n"
        f"Files:      {result.files} in changed folders\n"
        f"Read:       {format_size(result.bytes_read)} from the source\n"
        f"Added:      {format_size(result.bytes_added)} to the destination"
    )
    if output.verbose:
        output.summary(
            f"Blobs:      {result.blobs_read} read, {result.blobs_added} added, "
            f"{result.blobs_reused} known already; {result.trees_added} trees added"
        )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(copy)
