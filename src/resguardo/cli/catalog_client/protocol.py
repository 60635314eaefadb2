"""The interface every catalog command talks to, whichever mode it runs in.

Every method takes names (as the command line gives them) and returns plain documents whose keys are
those of :mod:`resguardo.cli.catalog_client.documents`. Errors are the same in both modes: NotFound
(no such name or ID), Conflict (a name taken, a record in use, a paused job), UsageError or
ConfigurationError (an invalid field), AccessDenied (remote only: the token or the role).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Record = dict[str, Any]
"""One record as the commands print it (JSON-ready values)."""


@dataclass(frozen=True)
class JobReferences:
    """The client, repository and category a job names (None: not given, keep the job's)."""

    client: str | None = None
    repository: str | None = None
    category: str | None = None


class CatalogClient(Protocol):
    """What the catalog commands ask of the catalog (on its database or through the API)."""

    def list_clients(self) -> list[Record]:
        """Return every client server, by name."""
        ...

    def show_client(self, name: str) -> Record:
        """Return the client ``name``. Raises NotFound."""
        ...

    def add_client(self, name: str, fields: Mapping[str, Any], secrets: Mapping[str, str]) -> Record:
        """Add a client with ``fields`` (address, port, ssh_user, transport, notes, ssh_host_key,
        database_url) and ``secrets`` sealed (ssh_private_key, ssh_key_passphrase, database_password);
        return it.

        Raises Conflict (name taken), UsageError or ConfigurationError (a field is invalid)."""
        ...

    def edit_client(self, name: str, changes: Mapping[str, Any], secrets: Mapping[str, str]) -> Record:
        """Change the client ``name`` (``name`` in ``changes`` renames it) and set ``secrets``; return it.
        Raises NotFound, Conflict, UsageError or ConfigurationError."""
        ...

    def test_client(
        self, name: str, paths: Sequence[str], databases: Sequence[str], job: str | None
    ) -> Record:
        """Run the connectivity test of the client ``name`` on ``paths`` and ``databases`` (or those of
        the job ``job``); return the stored report. Raises NotFound, UsageError, AccessDenied."""
        ...

    def remove_client(self, name: str) -> Record:
        """Remove the client ``name``; return what it was. Raises NotFound, Conflict (a job uses it)."""
        ...

    def list_repositories(self) -> list[Record]:
        """Return every repository, by name (which secrets are set, never their values)."""
        ...

    def show_repository(self, name: str) -> Record:
        """Return the repository ``name``. Raises NotFound."""
        ...

    def add_repository(
        self, name: str, url: str, notes: str, passphrase: str, max_concurrent_runs: int | None = None
    ) -> Record:
        """Add a repository, its passphrase sealed by the catalog; return it. Raises Conflict,
        UsageError or ConfigurationError (a bad location), SecretKeyError (local: no key)."""
        ...

    def edit_repository(self, name: str, changes: Mapping[str, Any], passphrase: str | None) -> Record:
        """Change the repository ``name`` (name, url, notes, max_concurrent_runs) and its passphrase when
        given; return it.
        Raises NotFound, Conflict, UsageError or ConfigurationError."""
        ...

    def remove_repository(self, name: str) -> Record:
        """Remove the repository ``name`` from the catalog; return what it was. Raises NotFound,
        Conflict (a job uses it)."""
        ...

    def list_users(self) -> list[Record]:
        """Return every user, by name (whether a password is set, never its hash)."""
        ...

    def show_user(self, username: str) -> Record:
        """Return the user ``username``. Raises NotFound."""
        ...

    def add_user(
        self, username: str, roles: Sequence[str], password: str, fields: Mapping[str, Any]
    ) -> Record:
        """Add a user with ``roles``, ``password`` and ``fields`` (display_name, email, language); return
        it. Raises Conflict, UsageError or ConfigurationError (a role, language or password)."""
        ...

    def edit_user(
        self,
        username: str,
        changes: Mapping[str, Any],
        roles: Sequence[str] | None,
        password: str | None,
    ) -> Record:
        """Change the user ``username``; ``roles`` (when given) replaces theirs; return it. Raises
        NotFound, Conflict, UsageError or ConfigurationError."""
        ...

    def remove_user(self, username: str) -> Record:
        """Remove the user ``username``; return what it was. Raises NotFound."""
        ...

    def list_jobs(self) -> list[Record]:
        """Return every job, by name."""
        ...

    def show_job(self, name: str) -> Record:
        """Return the job ``name`` with its retention, source and description. Raises NotFound."""
        ...

    def add_job(self, name: str, references: JobReferences, fields: Mapping[str, Any]) -> Record:
        """Add a job on the named client, repository and category with ``fields`` (source, schedule,
        retention, description); return it. Raises NotFound (a reference), Conflict,
        ConfigurationError (a schedule or retention)."""
        ...

    def edit_job(self, name: str, references: JobReferences, fields: Mapping[str, Any]) -> Record:
        """Change the job ``name``; return it. Raises NotFound, Conflict, ConfigurationError."""
        ...

    def set_job_paused(self, name: str, paused: bool) -> Record:
        """Pause or resume the job ``name``; return it. Raises NotFound."""
        ...

    def remove_job(self, name: str) -> Record:
        """Remove the job ``name`` with its runs; return what it was. Raises NotFound, Conflict (runs
        younger than its records must be kept)."""
        ...

    def run_job_now(self, name: str) -> Record:
        """Ask for one run of the job ``name`` now; return the job. Raises NotFound, Conflict (paused)."""
        ...

    def list_runs(self, job: str | None) -> list[Record]:
        """Return the runs (of the job named ``job`` when given), newest first. Raises NotFound."""
        ...

    def show_run(self, run_id: int) -> Record:
        """Return the run ``run_id`` with its log. Raises NotFound."""
        ...

    def cancel_run(self, run_id: int) -> Record:
        """Cancel the queued run ``run_id``; return it. Raises NotFound, Conflict (not queued)."""
        ...

    def list_failures(self, job: str | None, open_only: bool) -> list[Record]:
        """Return the failure log's entries (of ``job``; only open ones), newest first. Raises NotFound."""
        ...

    def show_failure(self, failure_id: int) -> Record:
        """Return the failure-log entry ``failure_id``. Raises NotFound."""
        ...

    def start_restore(self, body: Mapping[str, Any], client: str | None) -> Record:
        """Check and queue the restore ``body`` describes (the body of ``POST /api/v1/restores``; the
        client whose server receives databases named ``client``); return it. Raises NotFound,
        UsageError (naming the field), Conflict (the target exists without overwrite)."""
        ...

    def list_restores(self, state: str | None) -> list[Record]:
        """Return the restores (in ``state`` when given), newest first."""
        ...

    def show_restore(self, restore_id: int) -> Record:
        """Return the restore ``restore_id`` with its log. Raises NotFound."""
        ...

    def cancel_restore(self, restore_id: int) -> Record:
        """Cancel the restore ``restore_id``; return it. Raises NotFound, Conflict (it has ended)."""
        ...

    def retry_restore(self, restore_id: int, from_copy: bool = False) -> Record:
        """Queue the failed or cancelled restore ``restore_id`` again (with ``from_copy``, from the intact
        copy it offers); return the new one. Raises NotFound, Conflict (any other state, or no copy)."""
        ...

    def request_verification(self, repository: str | None, job: str | None) -> Record:
        """Queue a scrub of the repository ``repository`` or a restore test of the job ``job`` (one of the
        two); return it. Raises NotFound, UsageError, Conflict (one is pending), AccessDenied."""
        ...

    def wait_for_verification(self, verification_id: int) -> Record:
        """Return the verification once it has finished (the local mode runs it itself; the remote mode
        waits for the server's workers). Raises NotFound."""
        ...

    def show_verification(self, verification_id: int) -> Record:
        """Return the verification ``verification_id`` with its evidence. Raises NotFound."""
        ...

    def list_verifications(self, filters: dict[str, Any]) -> list[Record]:
        """Return the register, newest first; ``filters`` may name ``kind``, ``state``, ``repository``,
        ``job``. Raises NotFound (no such repository or job)."""
        ...

    def show_smtp_settings(self) -> Record:
        """Return the SMTP settings (``password_set``, never the password). Raises AccessDenied."""
        ...

    def update_smtp_settings(self, changes: Mapping[str, Any], password: str | None) -> Record:
        """Change the SMTP settings in ``changes`` (enabled, smtp_host, smtp_port, smtp_security,
        smtp_username, sender, console_url, failure_window_hours, notify_recovery, max_attempts) and
        the password when given (empty: removed); return the settings. Raises UsageError or
        ConfigurationError (a field), SecretKeyError (local: no key), AccessDenied."""
        ...

    def test_smtp(self, to: str) -> Record:
        """Send a test message to ``to`` through the saved settings; return ``delivered`` with the
        server's ``answer``, or its ``error`` and ``hint``. Raises UsageError (not an address, no
        server set), AccessDenied."""
        ...

    def list_notifications(self, state: str | None) -> list[Record]:
        """Return the e-mail outbox (of ``state``: queued, sent, failed), newest first. Raises
        UsageError (an unknown state), AccessDenied."""
        ...

    def retry_notification(self, notification_id: int) -> Record:
        """Queue the failed message ``notification_id`` again; return it. Raises NotFound, Conflict
        (not failed), AccessDenied."""
        ...

    def set_repository_verification(
        self, name: str, schedule: Mapping[str, Any] | None, period_days: int | None
    ) -> Record:
        """Set the scrub schedule (dict form) and/or period of the repository ``name`` (None: unchanged);
        return its verification settings. Raises NotFound, ConfigurationError, AccessDenied."""
        ...

    def set_job_restore_test(
        self, name: str, schedule: Mapping[str, Any] | None, sample_files: int | None
    ) -> Record:
        """Set the restore-test schedule and/or sample size of the job ``name`` (None: unchanged); return
        its restore-test settings. Raises NotFound, ConfigurationError, AccessDenied."""
        ...

    def list_test_servers(self) -> list[Record]:
        """Return the database servers restore tests restore into, by kind (never their passwords)."""
        ...

    def set_test_server(self, kind: str, url: str, password: str) -> Record:
        """Set the restore-test server of ``kind`` (``postgresql``, ``mysql``); ``password`` is sealed
        (empty: none). Return it without the password. Raises UsageError, ConfigurationError, AccessDenied."""
        ...

    def remove_test_server(self, kind: str) -> Record:
        """Remove the restore-test server of ``kind``; return what it was. Raises NotFound, AccessDenied."""
        ...
