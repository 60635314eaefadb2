"""The documents the catalog commands print, the same in both modes: which keys each record has.

The local mode builds them from the catalog's records (:mod:`.local_documents`), the remote mode from
the API's JSON (:mod:`.remote.documents`); both keep exactly these keys, in this order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CLIENT_KEYS = (
    "id",
    "name",
    "address",
    "port",
    "ssh_user",
    "transport",
    "notes",
    "ssh_host_key",
    "database_url",
    "secrets_set",
)
REPOSITORY_KEYS = (
    "id",
    "name",
    "url",
    "options",
    "notes",
    "max_concurrent_runs",
    "passphrase",
    "secrets_set",
)
USER_KEYS = ("id", "username", "display_name", "email", "language", "roles", "active", "password")
JOB_KEYS = ("id", "name", "client", "repository", "category", "schedule", "paused", "run_now_requested_at")
JOB_DETAIL_KEYS = (
    *JOB_KEYS,
    "retention",
    "source",
    "description",
    "size_change_percent",
    "file_count_change_percent",
    "unchanged_dump_days",
)
RUN_KEYS = (
    "id",
    "job_id",
    "state",
    "trigger",
    "attempt",
    "queued_at",
    "not_before",
    "started_at",
    "finished_at",
    "worker_id",
    "bytes_read",
    "bytes_added",
    "files",
    "snapshot_id",
    "error",
    "verification",
    "verification_reasons",
)
RUN_DETAIL_KEYS = (*RUN_KEYS, "verification_figures", "log")
RESTORE_KEYS = (
    "id",
    "run_id",
    "job_id",
    "repository_id",
    "snapshot_id",
    "kind",
    "items",
    "target",
    "overwrite",
    "state",
    "requested_by_id",
    "reason",
    "request_id",
    "queued_at",
    "started_at",
    "finished_at",
    "worker_id",
    "heartbeat_at",
    "bytes_restored",
    "error",
    "alternative",
)
FAILURE_KEYS = (
    "id",
    "job_id",
    "run_id",
    "opened_at",
    "error",
    "cause",
    "analysis",
    "corrective_action",
    "recorded_by_id",
    "recorded_at",
    "closed_by_run_id",
    "closed_at",
)


def picked(document: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """Return the ``keys`` of ``document``, in that order. Raises KeyError when one is missing."""
    return {key: document[key] for key in keys}


def sorted_document(value: Any) -> Any:
    """Return a JSON document (a schedule, retention, source) with its keys sorted, at every depth: the
    catalog's database may give them back in another order than they were written in."""
    if isinstance(value, Mapping):
        return {key: sorted_document(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_document(item) for item in value]
    return value


def set_or_not(value: bool) -> str:
    """Return how a secret's presence is shown: ``"set"`` or ``"not set"``."""
    return "set" if value else "not set"
