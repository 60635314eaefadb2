"""Where passphrases come from: a file, the environment, or a prompt on a terminal.

The passphrase that opens a repository is read, in this order, from ``--password-file`` (or
``RESGUARDO_PASSWORD_FILE``), from ``RESGUARDO_PASSWORD``, or from a prompt when standard input is a
terminal; otherwise the command stops with a clear error. A new passphrase (``key add``,
``key passwd``) comes from ``--new-password-file`` or a prompt, asked twice.

A passphrase is never printed, logged, or put into a message.
"""

from __future__ import annotations

import getpass
import os
import sys

from resguardo.core.errors import UsageError

PASSWORD_ENV = "RESGUARDO_PASSWORD"  # noqa: S105 - the name of a variable, not a password
PASSWORD_FILE_ENV = "RESGUARDO_PASSWORD_FILE"  # noqa: S105 - the name of a variable, not a password

_NO_PASSPHRASE_HINT = (
    f"pass --password-file FILE (or set {PASSWORD_FILE_ENV}), set {PASSWORD_ENV}, "
    "or run in a terminal to be asked"
)


def read_password_file(path: str) -> bytes:
    """Return the passphrase stored in a file: its content without the trailing line break.

    Raises:
        UsageError: the file cannot be read, or holds no passphrase.
    """
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as error:
        raise UsageError(
            f"cannot read the password file {path}: {error.strerror or error}",
            "check the path given to --password-file or RESGUARDO_PASSWORD_FILE",
        ) from None
    passphrase = data.rstrip(b"\r\n")
    if not passphrase:
        raise UsageError(f"the password file {path} is empty", "write the passphrase into it")
    return passphrase


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


def _prompt(prompt: str) -> bytes:
    """Ask for a passphrase on the terminal without echoing it.

    Raises:
        UsageError: the terminal closed (end of input) or the answer was empty.
    """
    try:
        answer = getpass.getpass(prompt)
    except EOFError:
        raise UsageError("no passphrase was entered") from None
    if not answer:
        raise UsageError("the passphrase is empty", "type a passphrase, or use --password-file")
    return os.fsencode(answer)


def _prompt_twice(what: str) -> bytes:
    """Ask for a new passphrase twice.

    Raises:
        UsageError: the two answers differ, or one is empty.
    """
    first = _prompt(f"Enter {what}: ")
    if _prompt(f"Enter {what} again: ") != first:
        raise UsageError(
            "the passphrases do not match", "run the command again and type the same passphrase twice"
        )
    return first


def current_passphrase(password_file: str | None, *, confirm: bool = False) -> bytes:
    """Return the passphrase that opens the repository (or, with ``confirm``, the one for ``init``).

    Args:
        password_file: the path given with ``--password-file`` or ``RESGUARDO_PASSWORD_FILE``, if any.
        confirm: ask twice when prompting (a passphrase being chosen, as for ``init``).

    Returns:
        the passphrase as bytes.

    Raises:
        UsageError: no passphrase is available, the file cannot be read, or the prompt failed.
    """
    if password_file:
        return read_password_file(password_file)
    from_environment = os.environ.get(PASSWORD_ENV)
    if from_environment:
        return os.fsencode(from_environment)
    if _stdin_is_terminal():
        return (
            _prompt_twice("the new repository's passphrase")
            if confirm
            else _prompt("Repository passphrase: ")
        )
    raise UsageError(
        "no passphrase given, and standard input is not a terminal to ask for one", _NO_PASSPHRASE_HINT
    )


def new_passphrase(new_password_file: str | None) -> bytes:
    """Return a new passphrase for ``key add`` or ``key passwd``: from a file, or asked twice.

    Raises:
        UsageError: no file was given and standard input is not a terminal, or the prompt failed.
    """
    if new_password_file:
        return read_password_file(new_password_file)
    if _stdin_is_terminal():
        return _prompt_twice("the new passphrase")
    raise UsageError(
        "no new passphrase given, and standard input is not a terminal to ask for one",
        "pass --new-password-file FILE, or run in a terminal to be asked",
    )


SOURCE_PASSWORD_ENV = "RESGUARDO_FROM_PASSWORD"  # noqa: S105 - the name of a variable, not a password
SOURCE_PASSWORD_FILE_ENV = "RESGUARDO_FROM_PASSWORD_FILE"  # noqa: S105 - the name of a variable


def source_passphrase(password_file: str | None) -> bytes:
    """Return the passphrase of the repository ``copy`` reads from.

    Taken from ``--from-password-file`` (or ``RESGUARDO_FROM_PASSWORD_FILE``), else
    ``RESGUARDO_FROM_PASSWORD``, else a prompt on a terminal; never from the destination's settings.

    Raises:
        UsageError: no passphrase is available, the file cannot be read, or the prompt failed.
    """
    if password_file:
        return read_password_file(password_file)
    from_environment = os.environ.get(SOURCE_PASSWORD_ENV)
    if from_environment:
        return os.fsencode(from_environment)
    if _stdin_is_terminal():
        return _prompt("Source repository passphrase: ")
    raise UsageError(
        "no passphrase given for the source repository, and standard input is not a terminal to ask for one",
        f"pass --from-password-file FILE (or set {SOURCE_PASSWORD_FILE_ENV}), set {SOURCE_PASSWORD_ENV}, "
        "or run in a terminal to be asked",
    )
