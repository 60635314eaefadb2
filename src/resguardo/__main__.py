"""``python -m resguardo``: the same as the ``resguardo`` command."""

import sys

from resguardo.cli.main import run

if __name__ == "__main__":
    sys.exit(run())
