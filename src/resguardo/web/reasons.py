"""Why a run's verification did not simply pass, in the page's language.

A run stores each reason with a stable ``code``, its ``figures`` and an English ``message`` (for the API,
the command line and the log; :mod:`resguardo.services.verification.compare`). The console words the
reason again from the code and the figures, in Spanish or English; a reason whose code or figures it
does not know is shown as its stored message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from babel.numbers import format_percent

from resguardo.web.i18n import current_language, format_number, format_size, gettext, ngettext

MAX_NAMED_TABLES = 5
Wording = Callable[[Mapping[str, Any]], str]


def reason_text(reason: Mapping[str, Any]) -> str:
    """Return a stored verification reason (``code``, ``figures``, ``message``) in the page's language;
    its stored message when the code or its figures are not known."""
    wording = _WORDINGS.get(str(reason.get("code", "")))
    figures = reason.get("figures")
    if wording is None or not isinstance(figures, Mapping):
        return str(reason.get("message", ""))
    try:
        text = wording(figures)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return str(reason.get("message", ""))
    detail = str(reason.get("message", "")).partition(" intact: ")[2]
    return f"{text}: {detail}" if reason["code"] == "integrity_failed" and detail else text


def _percent(value: int) -> str:
    return str(format_percent(value / 100, locale=current_language()))


def _change(figures: Mapping[str, Any], show: Callable[[int], str]) -> dict[str, str]:
    """Return the placeholders of a change: its percent (rounded) and both values."""
    before, after = int(figures["before"]), int(figures["after"])
    return {
        "percent": _percent(round(abs(after - before) * 100 / before)),
        "before": show(before),
        "after": show(after),
    }


def _size_changed(figures: Mapping[str, Any]) -> str:
    values = _change(figures, format_size)
    if int(figures["after"]) < int(figures["before"]):
        return (
            gettext("the backup is %(percent)s smaller than the last one (%(before)s → %(after)s)") % values
        )
    return gettext("the backup is %(percent)s larger than the last one (%(before)s → %(after)s)") % values


def _files_changed(figures: Mapping[str, Any]) -> str:
    values = _change(figures, format_number)
    if int(figures["after"]) < int(figures["before"]):
        return (
            gettext("the backup has %(percent)s fewer files than the last one (%(before)s → %(after)s)")
            % values
        )
    return (
        gettext("the backup has %(percent)s more files than the last one (%(before)s → %(after)s)") % values
    )


def _dump_size_changed(figures: Mapping[str, Any]) -> str:
    values = {**_change(figures, format_size), "database": str(figures["database"])}
    if int(figures["after"]) < int(figures["before"]):
        message = gettext(
            "the dump of %(database)s is %(percent)s smaller than the last one (%(before)s → %(after)s)"
        )
    else:
        message = gettext(
            "the dump of %(database)s is %(percent)s larger than the last one (%(before)s → %(after)s)"
        )
    return message % values


def _dump_missing(figures: Mapping[str, Any]) -> str:
    values = {"database": str(figures["database"]), "before": format_size(int(figures["before"]))}
    return gettext("there is no dump of %(database)s this time (the last one was %(before)s)") % values


def _dump_unchanged(figures: Mapping[str, Any]) -> str:
    values = {"database": str(figures["database"]), "since": str(figures["since"])}
    return (
        gettext("nothing seems to be written to %(database)s: its dump has not changed since %(since)s")
        % values
    )


def _named(items: list[str]) -> str:
    more = len(items) - MAX_NAMED_TABLES
    text = "; ".join(items[:MAX_NAMED_TABLES])
    if more > 0:
        text += "; " + gettext("and %(more)s more") % {"more": format_number(more)}
    return text


def _tables_missing(figures: Mapping[str, Any]) -> str:
    tables = [str(name) for name in figures["tables"]]
    message = ngettext(
        "%(num)s table of %(database)s is not in its dump any more (%(tables)s)",
        "%(num)s tables of %(database)s are not in its dump any more (%(tables)s)",
        len(tables),
    )
    return message % {"num": len(tables), "database": str(figures["database"]), "tables": _named(tables)}


def _tables_changed(figures: Mapping[str, Any]) -> str:
    tables: Mapping[str, Mapping[str, int]] = figures["tables"]
    rows = figures["measure"] == "rows"
    show = format_number if rows else format_size
    details = [
        f"{name} {show(int(change['before']))} → {show(int(change['after']))}"
        for name, change in tables.items()
    ]
    count, down = len(tables), figures["direction"] == "down"
    if rows and down:
        message = ngettext(
            "%(num)s table of %(database)s lost %(percent)s or more of its rows (%(tables)s)",
            "%(num)s tables of %(database)s lost %(percent)s or more of their rows (%(tables)s)",
            count,
        )
    elif rows:
        message = ngettext(
            "%(num)s table of %(database)s gained %(percent)s or more rows (%(tables)s)",
            "%(num)s tables of %(database)s gained %(percent)s or more rows (%(tables)s)",
            count,
        )
    elif down:
        message = ngettext(
            "%(num)s table of %(database)s shrank by %(percent)s or more (%(tables)s)",
            "%(num)s tables of %(database)s shrank by %(percent)s or more (%(tables)s)",
            count,
        )
    else:
        message = ngettext(
            "%(num)s table of %(database)s grew by %(percent)s or more (%(tables)s)",
            "%(num)s tables of %(database)s grew by %(percent)s or more (%(tables)s)",
            count,
        )
    percent = _percent(int(figures["threshold_percent"]))
    return message % {
        "num": count,
        "database": str(figures["database"]),
        "percent": percent,
        "tables": _named(details),
    }


def _integrity_failed(figures: Mapping[str, Any]) -> str:
    if "more" in figures:
        return gettext("and %(more)s more damaged objects") % {"more": format_number(int(figures["more"]))}
    values = {"kind": str(figures["kind"]), "name": str(figures["name"])}
    return gettext("%(kind)s %(name)s written by this backup does not read back intact") % values


_WORDINGS: dict[str, Wording] = {
    "size_changed": _size_changed,
    "files_changed": _files_changed,
    "dump_size_changed": _dump_size_changed,
    "dump_missing": _dump_missing,
    "dump_unchanged": _dump_unchanged,
    "tables_missing": _tables_missing,
    "table_rows_changed": _tables_changed,
    "table_bytes_changed": _tables_changed,
    "integrity_failed": _integrity_failed,
}
