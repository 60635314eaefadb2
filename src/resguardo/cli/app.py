"""The Typer application: global options, the commands, and how errors become messages and exit codes.

Every :class:`~resguardo.core.errors.ResguardoError` a command raises is printed as one ``error:``
line (and a ``hint:`` line), or as a JSON ``error`` object with ``--json``, and ends the run with
the error's exit code. An interruption (Ctrl-C) exits with 130. Any other exception is a bug: it is
printed as one line asking for a report, with its traceback only under ``--verbose`` or
``RESGUARDO_DEBUG=1``.

Modules that are slow to import (the engine, Rich) are imported inside the commands, so that the
start-up of every command pays only for what it uses.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from resguardo import __version__
from resguardo.cli.output import Output
from resguardo.cli.passphrases import PASSWORD_FILE_ENV
from resguardo.cli.session import REPOSITORY_ENV, Settings
from resguardo.core.errors import EXIT_FAILURE, EXIT_INTERRUPTED, ResguardoError

DEBUG_ENV = "RESGUARDO_DEBUG"
EXIT_BROKEN_PIPE = 141
"""Exit status when the reader of standard output went away (``dump ... | head``), as for SIGPIPE."""


def debugging() -> bool:
    """Return True when ``RESGUARDO_DEBUG`` asks for tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def output_of(context: typer.Context) -> Output:
    """Return the output settings of the run ``context`` belongs to (defaults before they are parsed)."""
    root = context.find_root()
    if isinstance(root.obj, Settings):
        return root.obj.output
    return Output(json_mode=bool(root.params.get("json_output")))


def report_unexpected(output: Output, error: BaseException) -> None:
    """Print an unexpected exception as one line asking for a report; the traceback only when debugging."""
    if output.verbose or debugging():
        traceback.print_exception(error, file=sys.stderr)
    detail = str(error).splitlines()[0] if str(error) else ""
    output.error(
        EXIT_FAILURE,
        f"unexpected error: {type(error).__name__}" + (f": {detail}" if detail else ""),
        f"this is a bug: please report it with the output of the same command run with {DEBUG_ENV}=1",
    )


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that flushing it at exit raises no second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


class ResguardoGroup(TyperGroup):
    """The top-level command group; turns exceptions raised by commands into messages and exit codes."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        """Run the chosen command; on error print it and exit with its code.

        Raises:
            typer.Exit: with the exit code of the error that ended the command.
        """
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except ResguardoError as error:
            output_of(ctx).error(error.exit_code, error.message, error.hint)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            output_of(ctx).error(EXIT_INTERRUPTED, "interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(EXIT_BROKEN_PIPE) from None
        except Exception as error:
            report_unexpected(output_of(ctx), error)
            raise typer.Exit(EXIT_FAILURE) from None


app = typer.Typer(
    cls=ResguardoGroup,
    name="resguardo",
    help="Deduplicating, compressed, encrypted backups. 'COMMAND --help' lists a command's options.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    """Print the version and stop, when ``--version`` was given (an eager option's callback)."""
    if value:
        typer.echo(f"resguardo {__version__}")
        raise typer.Exit(0)


@app.callback()
def global_options(
    ctx: typer.Context,
    *,
    repo: Annotated[
        str | None,
        typer.Option(
            "--repo",
            "-r",
            metavar="PATH",
            envvar=REPOSITORY_ENV,
            help="Repository location: a directory, sftp://USER@HOST:PORT/PATH or s3://BUCKET/PREFIX.",
            show_envvar=True,
        ),
    ] = None,
    password_file: Annotated[
        str | None,
        typer.Option(
            "--password-file",
            metavar="FILE",
            envvar=PASSWORD_FILE_ENV,
            help="File holding the passphrase (else RESGUARDO_PASSWORD, else a prompt on a terminal).",
            show_envvar=True,
        ),
    ] = None,
    s3_endpoint: Annotated[
        str | None,
        typer.Option(
            "--s3-endpoint",
            metavar="URL",
            envvar="RESGUARDO_S3_ENDPOINT",
            help="S3 server of s3:// repositories (else AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS).",
            show_envvar=True,
        ),
    ] = None,
    sftp_key: Annotated[
        str | None,
        typer.Option(
            "--sftp-key",
            metavar="FILE",
            envvar="RESGUARDO_SFTP_KEY",
            help="For sftp:// repositories: the private key to log in with (else ssh-agent, ~/.ssh/id_*).",
            show_envvar=True,
        ),
    ] = None,
    sftp_known_hosts: Annotated[
        str | None,
        typer.Option(
            "--sftp-known-hosts",
            metavar="FILE",
            envvar="RESGUARDO_SFTP_KNOWN_HOSTS",
            help="For sftp:// repositories: the known_hosts file (else ~/.ssh/known_hosts).",
            show_envvar=True,
        ),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            metavar="URL",
            envvar="RESGUARDO_SERVER",
            help="Run the catalog commands on this server (resguardo serve) instead of the catalog.",
            show_envvar=True,
        ),
    ] = None,
    token_file: Annotated[
        str | None,
        typer.Option(
            "--token-file",
            metavar="FILE",
            envvar="RESGUARDO_TOKEN_FILE",
            help="File holding the server's API token (else RESGUARDO_TOKEN, else 'resguardo login').",
            show_envvar=True,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print machine-readable JSON on standard output.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summaries.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="More detail; tracebacks of unexpected errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Deduplicating, compressed, encrypted backups."""
    del version
    output = Output(json_mode=json_output, quiet=quiet, verbose=verbose)
    ctx.obj = Settings(
        repo,
        password_file,
        output,
        s3_endpoint=s3_endpoint,
        sftp_key=sftp_key,
        sftp_known_hosts=sftp_known_hosts,
        server=server,
        token_file=token_file,
    )


def _register_commands() -> None:
    from resguardo.cli import (
        commands_backup,
        commands_browse,
        commands_catalog_repositories,
        commands_check,
        commands_clients,
        commands_copy,
        commands_db,
        commands_forget,
        commands_jobs,
        commands_login,
        commands_notify,
        commands_prune,
        commands_repair,
        commands_repository,
        commands_restore,
        commands_restores,
        commands_runs,
        commands_serve,
        commands_users,
        commands_verify,
        commands_worker,
    )

    for module in (
        commands_repository,
        commands_backup,
        commands_restore,
        commands_check,
        commands_forget,
        commands_prune,
        commands_repair,
        commands_browse,
    ):
        module.register(app)
    commands_copy.register(app)
    commands_db.register(app)
    commands_worker.register(app)
    commands_serve.register(app)
    for catalog_module in (
        commands_clients,
        commands_catalog_repositories,
        commands_users,
        commands_jobs,
        commands_runs,
        commands_restores,
        commands_login,
        commands_verify,
        commands_notify,
    ):
        catalog_module.register(app)


_register_commands()
