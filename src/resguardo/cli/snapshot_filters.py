"""The options that select snapshots by host, tag and path, shared by every command that takes them."""

from __future__ import annotations

from typing import Annotated

import typer

HostFilter = Annotated[
    str | None, typer.Option("--host", metavar="NAME", help="Only snapshots of this host.")
]
TagFilter = Annotated[
    list[str] | None,
    typer.Option("--tag", metavar="TAG", help="Only snapshots with this tag (repeatable: all of them)."),
]
PathFilter = Annotated[
    list[str] | None,
    typer.Option("--path", metavar="PATH", help="Only snapshots of this path (repeatable: all of them)."),
]
