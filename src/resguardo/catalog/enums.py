"""The fixed vocabularies of the catalog: roles, languages, transports, run states and triggers."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """What a user may do; a user holds one or more roles."""

    ADMINISTRATOR = "administrator"
    IT_DIRECTOR = "it_director"
    OPERATOR = "operator"
    AREA_DIRECTOR = "area_director"
    REQUESTER = "requester"
    CUSTODIAN = "custodian"
    AUDITOR = "auditor"


class Language(enum.StrEnum):
    """The languages of the console and of messages."""

    SPANISH = "es"
    ENGLISH = "en"


class Transport(enum.StrEnum):
    """How the service reaches a client server: over SSH, or on the machine it runs on."""

    SSH = "ssh"
    LOCAL = "local"


class RunState(enum.StrEnum):
    """Where a run is in its life: queued, then running, then one of the four ends."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Return True for the states a run ends in."""
        return self not in (RunState.QUEUED, RunState.RUNNING)


class RestoreState(enum.StrEnum):
    """Where a restore is in its life: queued, then running, then succeeded, failed or cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Return True for the states a restore ends in."""
        return self not in (RestoreState.QUEUED, RestoreState.RUNNING)


class RestoreKind(enum.StrEnum):
    """What a restore brings back: database streams of a snapshot, or paths of it."""

    DATABASE = "database"
    PATHS = "paths"


class Verification(enum.StrEnum):
    """What the verification of a run's backup found (R12).

    ``verified``: what it wrote reads back intact and nothing looks unusual next to the job's last
    successful run; ``warnings``: intact, but its size, files or dumps changed beyond the job's
    thresholds; ``failed``: what it wrote does not read back intact; ``not_verified``: no backup to
    verify (a failed, cancelled or unfinished run).
    """

    VERIFIED = "verified"
    WARNINGS = "warnings"
    FAILED = "failed"
    NOT_VERIFIED = "not_verified"


class RunTrigger(enum.StrEnum):
    """Why a run was queued: its schedule, a person ("run now"), or a retry of a failed run."""

    SCHEDULED = "scheduled"
    MANUAL = "manual"
    RETRY = "retry"


class SecretName(enum.StrEnum):
    """The secrets a repository may hold, sealed in the catalog."""

    PASSPHRASE = "passphrase"  # noqa: S105 (a secret's name, not a secret)
    S3_ACCESS_KEY_ID = "s3_access_key_id"
    S3_SECRET_ACCESS_KEY = "s3_secret_access_key"  # noqa: S105 (a secret's name, not a secret)
    SSH_PRIVATE_KEY = "ssh_private_key"
    SSH_PASSWORD = "ssh_password"  # noqa: S105 (a secret's name, not a secret)


class ClientSecretName(enum.StrEnum):
    """The secrets a client server may hold, sealed in the catalog: how the service logs in to it."""

    SSH_PRIVATE_KEY = "ssh_private_key"
    SSH_KEY_PASSPHRASE = "ssh_key_passphrase"  # noqa: S105 (a secret's name, not a secret)
    DATABASE_PASSWORD = "database_password"  # noqa: S105 (a secret's name, not a secret)


class VerificationKind(enum.StrEnum):
    """What a periodic verification does: read part of a repository (scrub), or restore a job's backup."""

    SCRUB = "scrub"
    RESTORE_TEST = "restore_test"


class VerificationState(enum.StrEnum):
    """Where a verification is: queued, running, then passed, passed with warnings, or failed."""

    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    WARNINGS = "warnings"
    FAILED = "failed"


class VerificationTrigger(enum.StrEnum):
    """Why a verification was queued: its schedule, or a person ("verify now")."""

    SCHEDULE = "schedule"
    MANUAL = "manual"


class SmtpSecurity(enum.StrEnum):
    """How the service talks to its SMTP server: STARTTLS on a plain port, TLS from the start, or none."""

    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


class NotificationState(enum.StrEnum):
    """Where an e-mail of the outbox is: waiting to be sent (or retried), sent, or given up."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
