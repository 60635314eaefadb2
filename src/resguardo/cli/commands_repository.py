"""Commands that manage the repository itself: ``init``, ``key list|add|remove|passwd``, ``unlock``."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated

import typer

from resguardo.cli.output import Output, format_table
from resguardo.cli.session import (
    opened_repository,
    opened_repository_and_passphrase,
    settings_of,
    testing_kdf,
)

if TYPE_CHECKING:
    from resguardo.engine.locks import LockInfo

MIB = 1024 * 1024


class ObjectLockMode(enum.StrEnum):
    """The Object Lock retention modes ``init --object-lock-mode`` takes."""

    COMPLIANCE = "compliance"
    GOVERNANCE = "governance"


key_app = typer.Typer(
    help="Manage the passphrases (key slots) that open the repository.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def init(
    ctx: typer.Context,
    compression_level: Annotated[
        int,
        typer.Option(
            "--compression-level", metavar="LEVEL", min=0, max=19, help="zstd level, 0 (off) to 19."
        ),
    ] = 3,
    pack_size: Annotated[
        int,
        typer.Option(
            "--pack-size", metavar="MIB", min=1, max=1024, help="Target size of pack files, in MiB."
        ),
    ] = 16,
    object_lock_days: Annotated[
        int,
        typer.Option(
            "--object-lock-days",
            metavar="DAYS",
            min=0,
            help="S3 only: keep every object (lock files excepted) under Object Lock for DAYS days after "
            "it is written. The bucket must have Object Lock enabled.",
        ),
    ] = 0,
    object_lock_mode: Annotated[
        ObjectLockMode,
        typer.Option(
            "--object-lock-mode",
            help="compliance: nobody can shorten the retention; governance: privileged users can.",
        ),
    ] = ObjectLockMode.COMPLIANCE,
) -> None:
    """Create a new encrypted repository at --repo.

    \f
    Raises:
        RepositoryExists: something is already at the location.
        UsageError: no passphrase is available.
        StorageError: the repository could not be written.
    """
    from resguardo.cli.passphrases import current_passphrase
    from resguardo.cli.session import open_storage
    from resguardo.core.errors import RepositoryExists
    from resguardo.engine.repository import CONFIG_NAME, Repository, list_key_slots

    settings = settings_of(ctx)
    storage = open_storage(settings)
    try:
        if storage.exists(CONFIG_NAME):
            raise RepositoryExists(f"a repository already exists at {storage.location}")
        passphrase = current_passphrase(settings.password_file, confirm=True)
        repository = Repository.create(
            storage,
            passphrase,
            compression_level=compression_level,
            pack_size=pack_size * MIB,
            kdf=testing_kdf(),
            object_lock_days=object_lock_days,
            object_lock_mode=object_lock_mode.value,
        )
        key_ids = [slot.id for slot in list_key_slots(storage)]
    finally:
        storage.close()
    output = settings.output
    if output.json_mode:
        output.json_document(
            {
                "repository_id": repository.config.id,
                "location": storage.location,
                "key_id": key_ids[0] if key_ids else None,
                "compression_level": compression_level,
                "pack_size": pack_size * MIB,
                "object_lock": (
                    {"mode": object_lock_mode.value, "days": object_lock_days} if object_lock_days else None
                ),
            }
        )
        return
    output.summary(f"created repository {repository.config.id[:8]} at {storage.location}")
    if object_lock_days:
        output.summary(
            f"every object but the lock files is kept under Object Lock ({object_lock_mode.value}) "
            f"for {object_lock_days} days after it is written"
        )
    output.summary("keep the passphrase safe: without it the data in the repository cannot be read back")


def key_list(ctx: typer.Context) -> None:
    """List the key slots of the repository (never their secrets).

    \f
    Raises:
        RepositoryNotFound, WrongPassphrase: the repository cannot be opened.
    """
    from resguardo.engine.repository import list_key_slots

    settings = settings_of(ctx)
    with opened_repository(settings, with_index=False) as repository:
        slots = [slot.describe() for slot in list_key_slots(repository.storage)]
    output = settings.output
    if output.json_mode:
        output.json_document(slots)
        return
    rows = [
        [
            slot["id"][:8],
            slot["created"][:19].replace("T", " "),
            slot["hostname"],
            slot["username"],
            slot["kdf"],
        ]
        for slot in slots
    ]
    output.result(format_table(["ID", "Created", "Host", "User", "KDF"], rows))


NewPasswordFile = Annotated[
    str | None,
    typer.Option(
        "--new-password-file", metavar="FILE", help="File holding the new passphrase (else asked twice)."
    ),
]


def key_add(
    ctx: typer.Context,
    new_password_file: NewPasswordFile = None,
) -> None:
    """Add a key slot: another passphrase that opens the same repository.

    \f
    Raises:
        UsageError: no new passphrase is available.
        StorageError: the key slot could not be written.
    """
    from resguardo.cli.passphrases import new_passphrase

    settings = settings_of(ctx)
    with opened_repository(settings, with_index=False) as repository:
        identifier = repository.add_key(new_passphrase(new_password_file), testing_kdf())
    _report_key(settings.output, "added", identifier)


def key_remove(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's ID, or a unique prefix of it.")],
) -> None:
    """Remove a key slot (never the last one, nor the one opened with the passphrase in use).

    \f
    Raises:
        ResguardoError: no single slot matches ID, it is the last one, or it is the one in use.
    """
    from resguardo.engine.repository import list_key_slots

    settings = settings_of(ctx)
    prefix = key_id.strip().lower()
    with opened_repository_and_passphrase(settings, with_index=False) as (repository, passphrase):
        matches = [slot.id for slot in list_key_slots(repository.storage) if slot.id.startswith(prefix)]
        repository.remove_key(prefix, current_passphrase=passphrase)
    _report_key(settings.output, "removed", matches[0])


def key_passwd(
    ctx: typer.Context,
    new_password_file: NewPasswordFile = None,
) -> None:
    """Change the passphrase in use: its key slot is replaced by one for the new passphrase.

    \f
    Raises:
        UsageError: no new passphrase is available.
        StorageError: the key slots could not be written.
    """
    from resguardo.cli.passphrases import new_passphrase

    settings = settings_of(ctx)
    with opened_repository_and_passphrase(settings, with_index=False) as (repository, passphrase):
        identifier = repository.change_passphrase(passphrase, new_passphrase(new_password_file))
    _report_key(settings.output, "changed", identifier)


def _report_key(output: Output, action: str, identifier: str) -> None:
    """Print what a key command did to which key slot."""
    if output.json_mode:
        output.json_document({"action": action, "key_id": identifier})
    else:
        output.summary(f"key {identifier[:8]} {action}")


def unlock(
    ctx: typer.Context,
    remove_all: Annotated[
        bool,
        typer.Option(
            "--remove-all",
            help="Remove every lock, live ones too (only when no process uses the repository).",
        ),
    ] = False,
) -> None:
    """Remove stale locks: those of processes that are gone, or that were not refreshed for 30 minutes.

    \f
    Raises:
        StorageError: a lock could not be removed.
    """
    from resguardo.engine.locks import list_locks, remove_stale_locks

    settings = settings_of(ctx)
    with opened_repository(settings, with_index=False) as repository:
        removed = remove_stale_locks(repository, remove_all=remove_all)
        remaining = list_locks(repository)
    output = settings.output
    if output.json_mode:
        output.json_document(
            {
                "removed": [_lock_json(lock) for lock in removed],
                "remaining": [_lock_json(lock) for lock in remaining],
            }
        )
        return
    for lock in removed:
        output.summary(f"removed {lock.describe()}")
    output.summary(f"{len(removed)} lock(s) removed" if removed else "no stale lock to remove")
    for lock in remaining:
        output.result(f"still held: {lock.describe()}")


def _lock_json(lock: LockInfo) -> dict[str, object]:
    """Return a lock as a JSON-ready map."""
    return {
        "id": lock.id,
        "hostname": lock.hostname,
        "pid": lock.pid,
        "username": lock.username,
        "kind": lock.kind,
        "exclusive": lock.exclusive,
        "created": lock.created.isoformat(),
        "time": lock.time.isoformat(),
    }


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(init)
    app.command()(unlock)
    key_app.command("list")(key_list)
    key_app.command("add")(key_add)
    key_app.command("remove")(key_remove)
    key_app.command("passwd")(key_passwd)
    app.add_typer(key_app, name="key")
