"""File trees of a client server over SSH on the command line: ``backup --ssh USER@HOST[:PORT] PATH...``."""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from resguardo.cli.output import Output, format_size

SOURCE_LOGGER = "resguardo.sources.ssh"
"""The logger of :mod:`resguardo.sources.sshreading` (not imported here: the CLI loads it lazily)."""

if TYPE_CHECKING:
    from resguardo.cli.session import Settings
    from resguardo.engine.archiver import BackupOptions, BackupResult
    from resguardo.sources.sshcommand import SshClientConnection


@dataclass(frozen=True, slots=True)
class SshChoice:
    """The SSH options of a ``backup`` command.

    Attributes:
        target: ``[USER@]HOST[:PORT]`` of the client, or None for a local backup.
        key_file: the private key to log in with; None offers ssh-agent's keys and ``~/.ssh/id_*``.
        known_hosts: the known_hosts file naming the client's host key; None reads ``~/.ssh/known_hosts``.
        parallel: session channels used at once to read files.
        use_tar: read small files through tar streams where the client has GNU tar.
    """

    target: str | None = None
    key_file: str | None = None
    known_hosts: str | None = None
    parallel: int = 8
    use_tar: bool = True

    @property
    def given(self) -> bool:
        """True when ``--ssh`` is given."""
        return self.target is not None


def check_ssh_choice(choice: SshChoice, *, stdin: bool, databases: bool, exclude_caches: bool) -> None:
    """Refuse SSH options that contradict each other or other sources.

    Args:
        databases: SQLite files are named (database servers, dumped on the client, are fine with --ssh).

    Raises:
        UsageError: key options without --ssh, --ssh with --stdin, --sqlite or --exclude-caches.
    """
    from resguardo.core.errors import UsageError

    if not choice.given:
        if choice.key_file is not None or choice.known_hosts is not None or not choice.use_tar:
            raise UsageError("--ssh-key-file, --ssh-known-hosts and --ssh-no-tar are only used with --ssh")
        return
    if stdin or databases:
        raise UsageError(
            "--ssh backs up paths or database servers of the client: give no --stdin nor --sqlite",
            "copy SQLite files of the client as paths",
        )
    if exclude_caches:
        raise UsageError(
            "--exclude-caches is not supported with --ssh", "leave cache folders out with --exclude"
        )
    if choice.parallel < 1:
        raise UsageError("--parallel must be at least 1")


def backup_over_ssh(
    settings: Settings,
    choice: SshChoice,
    paths: list[str],
    options: BackupOptions,
) -> BackupResult:
    """Back up ``paths`` of the client named by ``choice`` into a new snapshot.

    Of ``options``, the local backup's, the excludes, one_file_system, tags, host, parent and use_parent
    apply.

    Raises:
        ConfigurationError: a malformed address, a relative path, or no usable key.
        SourceError: the client cannot be reached, its host key is unknown or changed, the key is
            refused, or a path does not exist there.
        StorageError: the repository could not be written.
    """
    from resguardo.backends._sftp_connect import Credentials
    from resguardo.cli.progress import reporting
    from resguardo.cli.session import opened_repository, shared_lock
    from resguardo.engine.remotetree import RemoteBackupOptions, backup_remote_tree, normalize_remote_paths
    from resguardo.sources.sshtree import SshTreeSource, parse_target

    assert choice.target is not None
    location = parse_target(choice.target, getpass.getuser())
    normalize_remote_paths(paths)
    remote_options = RemoteBackupOptions(
        hostname=options.hostname or location.host,
        username=location.user,
        excludes=options.excludes,
        one_file_system=options.one_file_system,
        tags=options.tags,
        parent=options.parent,
        use_parent=options.use_parent,
    )
    source = SshTreeSource(
        location, Credentials(choice.key_file, choice.known_hosts), choice.parallel, choice.use_tar
    )
    output = settings.output
    shown = _SourceWarnings(output)
    logging.getLogger(SOURCE_LOGGER).addHandler(shown)
    try:
        source.connect()
        with (
            opened_repository(settings) as repository,
            shared_lock(repository, output),
            reporting(output, "backup") as reporter,
        ):
            return backup_remote_tree(repository, source, paths, remote_options, reporter)
    finally:
        logging.getLogger(SOURCE_LOGGER).removeHandler(shown)
        source.close()


def ssh_connection(choice: SshChoice) -> SshClientConnection:
    """Return the (not yet opened) connection to the client ``choice`` names.

    Raises:
        ConfigurationError: the address is malformed.
    """
    from resguardo.backends._sftp_connect import Credentials
    from resguardo.sources.sshcommand import SshClientConnection
    from resguardo.sources.sshtree import parse_target

    assert choice.target is not None
    location = parse_target(choice.target, getpass.getuser())
    return SshClientConnection(location, Credentials(choice.key_file, choice.known_hosts))


class _SourceWarnings(logging.Handler):
    """Shows the SSH source's logged warnings (sessions refused by the server) as the command's own."""

    def __init__(self, output: Output) -> None:
        super().__init__(logging.WARNING)
        self.output = output

    def emit(self, record: logging.LogRecord) -> None:
        self.output.warning(record.getMessage(), operation="backup")


def print_network_line(output: Output, result: BackupResult) -> None:
    """Print the bytes the backup moved over the network (text output only)."""
    summary = result.snapshot.summary
    if output.json_mode or "network_bytes_received" not in summary:
        return
    output.summary(
        f"Network:      {format_size(int(summary['network_bytes_received']))} received, "
        f"{format_size(int(summary['network_bytes_sent']))} sent "
        f"(listing {format_size(int(summary['listing_bytes']))}, "
        f"contents of {summary.get('files_read', 0)} files {format_size(int(summary['content_bytes']))})"
    )
