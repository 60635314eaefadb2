"""A job's source in the console's job form: its kind, paths or databases, and commands before and after.

:func:`source_from_form` turns the form's fields into the source document the catalog checks
(:mod:`resguardo.catalog.sources`), keeping the fields the form does not show (``url``,
``one_file_system``) when the kind stays the same; :func:`source_fields` does the reverse. Field names
follow the document (``paths``, ``commands.before``...), so that a refusal naming ``source.<field>``
marks the form's own field.
"""

from __future__ import annotations

from typing import Any

from resguardo.web.i18n import gettext

KINDS = ("paths", "postgresql", "mysql", "sqlite")
PATH_KINDS = ("paths", "sqlite")
COMMAND_FIELDS = ("commands.before", "commands.after", "commands.timeout_seconds")
SOURCE_FIELDS = ("kind", "paths", "excludes", "databases", *COMMAND_FIELDS)
KEPT_WHEN_SAME_KIND = ("url", "one_file_system")


def kind_choices() -> list[tuple[str, str]]:
    """Return the kinds of source as (value, label in the page's language)."""
    labels = {
        "paths": gettext("Files and folders"),
        "postgresql": gettext("PostgreSQL databases"),
        "mysql": gettext("MySQL / MariaDB databases"),
        "sqlite": gettext("SQLite database files"),
    }
    return [(kind, labels[kind]) for kind in KINDS]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def source_from_form(
    values: dict[str, Any], previous: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return (the source document of the form's values, errors by field name).

    Args:
        values: the form's fields (``kind``, ``paths``, ``excludes``, ``databases``, ``commands.*``).
        previous: the job's stored source when editing: its fields the form does not show are kept.
    """
    kind = values.get("kind") or "paths"
    errors: dict[str, str] = {}
    source: dict[str, Any] = {"kind": kind}
    if kind in PATH_KINDS:
        source["paths"] = _lines(values.get("paths", ""))
        if not source["paths"]:
            errors["paths"] = gettext("This field is required.")
        if kind == "paths":
            source["excludes"] = _lines(values.get("excludes", ""))
    else:
        source["databases"] = _lines(values.get("databases", ""))
    commands = {name: values.get(f"commands.{name}", "").strip() for name in ("before", "after")}
    timeout = values.get("commands.timeout_seconds", "").strip()
    if timeout:
        if timeout.isdigit():
            commands["timeout_seconds"] = int(timeout)
        else:
            errors["commands.timeout_seconds"] = gettext("This value is not valid.")
    given = {name: value for name, value in commands.items() if value != ""}
    if given:
        source["commands"] = given
    if previous and previous.get("kind") == kind:
        source.update({name: previous[name] for name in KEPT_WHEN_SAME_KIND if name in previous})
    return source, errors


def source_fields(source: dict[str, Any]) -> dict[str, str]:
    """Return the form's fields of a stored source document."""
    commands = source.get("commands") or {}
    timeout = commands.get("timeout_seconds")
    return {
        "kind": str(source.get("kind") or "paths"),
        "paths": "\n".join(source.get("paths", [])),
        "excludes": "\n".join(source.get("excludes", [])),
        "databases": "\n".join(source.get("databases", [])),
        "commands.before": str(commands.get("before", "")),
        "commands.after": str(commands.get("after", "")),
        "commands.timeout_seconds": "" if timeout is None else str(timeout),
    }
