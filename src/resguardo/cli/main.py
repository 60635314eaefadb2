"""The ``resguardo`` command's entry point: run the application on an argument list, return the exit code.

Exit codes (see :mod:`resguardo.core.errors`): 0 success, 1 failure, 2 usage, 3 partial backup,
10 no repository, 11 locked, 12 wrong passphrase, 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

PROGRAM = "resguardo"


def _print_usage_error(error: Exception, exit_code: int, json_mode: bool) -> None:
    """Print a command-line mistake as ``error:`` and ``hint:`` lines (or a JSON error) on standard error."""
    from resguardo.cli.output import Output

    context = getattr(error, "ctx", None)
    command = getattr(context, "command_path", PROGRAM) if context is not None else PROGRAM
    format_message = getattr(error, "format_message", None)
    message = format_message() if callable(format_message) else str(error)
    Output(json_mode=json_mode).error(exit_code, message, f"see '{command} --help'")


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    Never raises: every error is printed and turned into its exit code (see the module docstring).
    """
    import typer
    from typer.main import get_command

    from resguardo.cli.app import app
    from resguardo.core.errors import EXIT_INTERRUPTED

    arguments = list(sys.argv[1:] if argv is None else argv)
    command = get_command(app)
    try:
        result = command.main(args=arguments, prog_name=PROGRAM, standalone_mode=False)
    except typer.TyperException as error:
        exit_code = int(getattr(error, "exit_code", 2))
        if type(error).__name__ == "NoArgsIsHelpError":
            sys.stdout.write(error.format_message() + "\n")
        else:
            _print_usage_error(error, exit_code, "--json" in arguments)
        return exit_code
    except typer.Abort:
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        return 141
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(run())
