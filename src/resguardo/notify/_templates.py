"""The messages' texts: one Jinja2 text template per event and language, ``templates/EVENT.LANG.txt``.

A template's first line is ``Subject: ...``; the rest is the body. Whole texts per language (rather
than gettext strings, as the console uses) let a translator read and write a message as a whole, and
keep this layer free of the console.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from resguardo.catalog.enums import Language
from resguardo.core.errors import UsageError

TEMPLATE_DIR = Path(__file__).parent / "templates"
SUBJECT_PREFIX = "Subject:"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=False,  # noqa: S701 (plain-text e-mail: there is no HTML to escape)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def events() -> frozenset[str]:
    """Return the events that have a template in every language."""
    found: dict[str, set[str]] = {}
    for path in TEMPLATE_DIR.glob("*.*.txt"):
        event, language, _suffix = path.name.split(".")
        found.setdefault(event, set()).add(language)
    every = {language.value for language in Language}
    return frozenset(event for event, languages in found.items() if languages >= every)


def render(event: str, language: Language, data: dict[str, Any]) -> tuple[str, str]:
    """Return the subject and body of ``event``'s message in ``language`` with ``data``.

    Raises:
        UsageError: no template for ``event``, or ``data`` lacks a value the template uses.
    """
    if event not in events():
        raise UsageError(f"no message is written for the event {event!r}", f"events: {sorted(events())}")
    template = _environment().get_template(f"{event}.{language.value}.txt")
    try:
        text = template.render(**data)
    except jinja2.UndefinedError as error:
        raise UsageError(f"the message {event!r} lacks data: {error.message}") from None
    first, _, rest = text.partition("\n")
    subject = first.removeprefix(SUBJECT_PREFIX).strip()
    return subject, rest.lstrip("\n").rstrip() + "\n"
