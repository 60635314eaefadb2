"""E-mail notifications from the command line, on the catalog or a server: ``settings smtp show|set``
and ``notify list|retry|test``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from resguardo.cli.catalog_client.choose import open_catalog
from resguardo.cli.catalog_helpers import print_done, print_record
from resguardo.cli.commands_clients import _secret_file
from resguardo.cli.commands_db import DatabaseUrlOption, DataDirOption, command_output

settings_app = typer.Typer(help="Settings of the service.", no_args_is_help=True, rich_markup_mode=None)
smtp_app = typer.Typer(
    help="The SMTP server that sends the service's e-mail.", no_args_is_help=True, rich_markup_mode=None
)
notify_app = typer.Typer(
    help="E-mail notifications: the outbox and a test message.", no_args_is_help=True, rich_markup_mode=None
)
SETTINGS_KEYS = (
    "enabled",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "password_set",
    "sender",
    "console_url",
    "failure_window_hours",
    "notify_recovery",
    "max_attempts",
)


@smtp_app.command("show")
def smtp_show(
    ctx: typer.Context, database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None
) -> None:
    """Show the SMTP settings (whether a password is set; never the password)."""
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.show_smtp_settings()
    print_record(command_output(ctx), document, SETTINGS_KEYS)


@smtp_app.command("set")
def smtp_set(  # noqa: PLR0917 (each option is a setting)
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="The SMTP server's name or address.")] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Its port (587, 465, 25).")
    ] = None,
    security: Annotated[
        str | None, typer.Option("--security", help="starttls (port 587), tls (port 465) or none.")
    ] = None,
    username: Annotated[str | None, typer.Option("--username", help="The login; empty: none.")] = None,
    password_file: Annotated[
        str | None, typer.Option("--password-file", help="A file holding the SMTP password; sealed.")
    ] = None,
    no_password: Annotated[bool, typer.Option("--no-password", help="Remove the stored password.")] = False,
    sender: Annotated[str | None, typer.Option("--sender", help="The address messages come from.")] = None,
    console_url: Annotated[
        str | None, typer.Option("--console-url", help="The console's address, for links in messages.")
    ] = None,
    failure_window_hours: Annotated[
        int | None,
        typer.Option(
            "--failure-window-hours", min=0, max=720, help="At most one failure message per job this often."
        ),
    ] = None,
    recovery: Annotated[
        bool | None, typer.Option("--recovery/--no-recovery", help="Mail when a failing job works again.")
    ] = None,
    max_attempts: Annotated[
        int | None, typer.Option("--max-attempts", min=1, max=50, help="Attempts before a message fails.")
    ] = None,
    enable: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Send notifications, or queue none.")
    ] = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Change the SMTP settings given (the others are kept); the password is read from a file.

    \f
    Raises:
        UsageError: a value is wrong (the message names the setting).
    """
    given: dict[str, Any] = {
        "smtp_host": host,
        "smtp_port": port,
        "smtp_security": security,
        "smtp_username": username,
        "sender": sender,
        "console_url": console_url,
        "failure_window_hours": failure_window_hours,
        "notify_recovery": recovery,
        "max_attempts": max_attempts,
        "enabled": enable,
    }
    changes = {key: value for key, value in given.items() if value is not None}
    password = "" if no_password else _secret_file(password_file, "SMTP password")
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.update_smtp_settings(changes, password)
    print_done(command_output(ctx), document, "SMTP settings saved")


@notify_app.command("test")
def notify_test(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", metavar="ADDRESS", help="Where to send the test message.")],
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Send a test message now through the saved SMTP settings; exit 1 when the server did not take it.

    \f
    Raises:
        UsageError: not an address, or no server or sender set.
        typer.Exit: code 1 when the message was not delivered (after the server's answer is printed).
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        result = catalog.test_smtp(to)
    output = command_output(ctx)
    if output.json_mode:
        output.json_document(result)
    elif result["delivered"]:
        output.summary(f"test message sent to {to}: the server answered {result['answer']}")
    else:
        output.result(f"test message to {to} NOT sent: {result['error']}")
        output.result(f"fix: {result['hint']}")
    if not result["delivered"]:
        raise typer.Exit(1)


@notify_app.command("list")
def notify_list(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option("--state", help="Only queued, sent or failed messages.")
    ] = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List the e-mail outbox, newest first."""
    with open_catalog(ctx, database_url, data_dir) as catalog:
        messages = catalog.list_notifications(state)
    output = command_output(ctx)
    if output.json_mode:
        output.json_document(messages)
        return
    for message in messages:
        output.result(
            f"{message['id']:>6}  {message['state']:<6}  {message['attempts']} attempt(s)  "
            f"{message['recipient']}  {message['subject']}  {message['last_error']}".rstrip()
        )


@notify_app.command("retry")
def notify_retry(
    ctx: typer.Context,
    notification_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="The message's number.")],
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Queue a failed message again; the sender tries it at once.

    \f
    Raises:
        NotFound: no such message. Conflict: it is not failed.
    """
    with open_catalog(ctx, database_url, data_dir) as catalog:
        document = catalog.retry_notification(notification_id)
    print_done(command_output(ctx), document, f"notification {notification_id} queued again")


def register(app: typer.Typer) -> None:
    """Add the ``settings`` and ``notify`` command groups to ``app``."""
    settings_app.add_typer(smtp_app, name="smtp")
    app.add_typer(settings_app, name="settings")
    app.add_typer(notify_app, name="notify")
