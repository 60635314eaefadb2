"""The catalog's records as the commands' documents (local mode); the keys of :mod:`.documents`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from resguardo.cli.catalog_client.documents import set_or_not, sorted_document

if TYPE_CHECKING:
    from resguardo.catalog.models import Client, FailureEntry, Job, Repository, Run, User


def moment(value: datetime | None) -> str | None:
    """Return a moment as ISO 8601 text, or None."""
    return value.isoformat() if value is not None else None


def client_document(client: Client) -> dict[str, Any]:
    """Return a client server's document: which secrets are set, never their values."""
    return {
        "id": client.id,
        "name": client.name,
        "address": client.address,
        "port": client.port,
        "ssh_user": client.ssh_user,
        "transport": str(client.transport),
        "notes": client.notes,
        "ssh_host_key": client.ssh_host_key,
        "database_url": client.database_url,
        "secrets_set": sorted(name.value for name in client.secret_names),
    }


def repository_document(repository: Repository) -> dict[str, Any]:
    """Return a repository's document: which secrets are set, never their values."""
    from resguardo.catalog.enums import SecretName

    names = repository.secret_names
    return {
        "id": repository.id,
        "name": repository.name,
        "url": repository.url,
        "options": repository.options,
        "notes": repository.notes,
        "max_concurrent_runs": repository.max_concurrent_runs,
        "passphrase": set_or_not(SecretName.PASSPHRASE in names),
        "secrets_set": sorted(name.value for name in names),
    }


def user_document(user: User) -> dict[str, Any]:
    """Return a user's document: whether a password is set, never its hash."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "language": str(user.language),
        "roles": sorted(str(role) for role in user.roles),
        "active": user.active,
        "password": set_or_not(bool(user.password_hash)),
    }


def job_document(job: Job) -> dict[str, Any]:
    """Return a job's document as listed: names of its client, repository and category."""
    return {
        "id": job.id,
        "name": job.name,
        "client": job.client.name,
        "repository": job.repository.name,
        "category": job.category.name,
        "schedule": sorted_document(job.schedule),
        "paused": job.paused,
        "run_now_requested_at": moment(job.run_now_requested_at),
    }


def job_detail(job: Job) -> dict[str, Any]:
    """Return a job's whole document: as listed, with its retention, source and description."""
    return {
        **job_document(job),
        "retention": sorted_document(job.retention),
        "source": sorted_document(job.source),
        "description": job.description,
        "size_change_percent": job.size_change_percent,
        "file_count_change_percent": job.file_count_change_percent,
        "unchanged_dump_days": job.unchanged_dump_days,
    }


def run_document(run: Run) -> dict[str, Any]:
    """Return a run's document as listed (without its log)."""
    return {
        "id": run.id,
        "job_id": run.job_id,
        "state": str(run.state),
        "trigger": str(run.trigger),
        "attempt": run.attempt,
        "queued_at": moment(run.queued_at),
        "not_before": moment(run.not_before),
        "started_at": moment(run.started_at),
        "finished_at": moment(run.finished_at),
        "worker_id": run.worker_id,
        "bytes_read": run.bytes_read,
        "bytes_added": run.bytes_added,
        "files": run.files,
        "snapshot_id": run.snapshot_id,
        "error": run.error,
        "verification": str(run.verification),
        "verification_reasons": run.verification_reasons or [],
    }


def failure_document(entry: FailureEntry) -> dict[str, Any]:
    """Return a failure-log entry's document."""
    return {
        "id": entry.id,
        "job_id": entry.job_id,
        "run_id": entry.run_id,
        "opened_at": moment(entry.opened_at),
        "error": entry.error,
        "cause": entry.cause,
        "analysis": entry.analysis,
        "corrective_action": entry.corrective_action,
        "recorded_by_id": entry.recorded_by_id,
        "recorded_at": moment(entry.recorded_at),
        "closed_by_run_id": entry.closed_by_run_id,
        "closed_at": moment(entry.closed_at),
    }


def run_log_document(run: Run) -> dict[str, Any]:
    """Return a run's whole document: as listed, with its log."""
    return {**run_document(run), "verification_figures": run.verification_figures, "log": run.log}
