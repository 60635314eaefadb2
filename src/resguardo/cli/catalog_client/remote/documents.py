"""The API's JSON as the commands' documents (remote mode); the keys of :mod:`..documents`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resguardo.cli.catalog_client.documents import (
    CLIENT_KEYS,
    FAILURE_KEYS,
    JOB_DETAIL_KEYS,
    REPOSITORY_KEYS,
    RUN_DETAIL_KEYS,
    RUN_KEYS,
    USER_KEYS,
    picked,
    set_or_not,
    sorted_document,
)

Names = Mapping[int, str]
"""The names of one kind of record by ID (clients, repositories or categories)."""


def client_record(client: Mapping[str, Any]) -> dict[str, Any]:
    """Return the document of a client from its JSON."""
    return picked(client, CLIENT_KEYS)


def repository_record(repository: Mapping[str, Any]) -> dict[str, Any]:
    """Return the document of a repository from its JSON (which secrets are set; the API never sends one)."""
    return picked(
        {**repository, "passphrase": set_or_not(bool(repository["has_passphrase"]))}, REPOSITORY_KEYS
    )


def user_record(user: Mapping[str, Any]) -> dict[str, Any]:
    """Return the document of a user from its JSON."""
    return picked({**user, "password": set_or_not(bool(user["has_password"]))}, USER_KEYS)


def name_in(names: Names, identity: int) -> str:
    """Return the name of the record ``identity``, or ``#ID`` when the caller may not read it."""
    return names.get(identity, f"#{identity}")


def job_record(
    job: Mapping[str, Any], clients: Names, repositories: Names, categories: Names
) -> dict[str, Any]:
    """Return the whole document of a job from its JSON and the names of what it refers to."""
    named = {
        **job,
        "client": name_in(clients, job["client_id"]),
        "repository": name_in(repositories, job["repository_id"]),
        "category": name_in(categories, job["category_id"]),
        **{key: sorted_document(job[key]) for key in ("schedule", "retention", "source")},
    }
    return picked(named, JOB_DETAIL_KEYS)


def run_record(run: Mapping[str, Any], *, with_log: bool = False) -> dict[str, Any]:
    """Return the document of a run from its JSON (with its log when ``with_log``)."""
    return picked(run, RUN_DETAIL_KEYS if with_log else RUN_KEYS)


def failure_record(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Return the document of a failure-log entry from its JSON."""
    return picked(entry, FAILURE_KEYS)
