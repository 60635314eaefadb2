"""Translations: every message the console shows has a translation in both catalogs, with the same
placeholders; languages are negotiated; dates, numbers and sizes follow the locale."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from resguardo.web import i18n

WEB = Path(i18n.__file__).parent
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "mark": None}


def _used_messages() -> set[str | tuple[str, str]]:
    used: set[str | tuple[str, str]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        WEB,
        METHODS,
        keywords=KEYWORDS,
        options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
    ):
        used.add(message if isinstance(message, str) else (message[0], message[1]))
    return used


def test_the_templates_and_code_use_many_messages() -> None:
    used = _used_messages()
    assert len(used) > 150
    assert "Run now" in used and "The change was not saved:" in used and "This field is required." in used


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_message_used_has_a_translation_with_the_same_placeholders(language: str) -> None:
    with i18n.po_path(language).open("rb") as source:
        catalog = read_po(source, locale=language)
    for message in _used_messages():
        key = message if isinstance(message, str) else message[0]
        entry = catalog.get(key)
        assert entry is not None and not entry.fuzzy, f"{language}: {message!r} is not in the catalog"
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert all(strings), f"{language}: {message!r} has no translation"
        wanted = set(PLACEHOLDER.findall(key))
        assert all(set(PLACEHOLDER.findall(text)) == wanted for text in strings), (language, message)


def test_spanish_translations_differ_from_the_english_messages() -> None:
    i18n.translations.cache_clear()
    with i18n.using_language("es"):
        assert i18n.gettext("Run now") == "Ejecutar ahora"
        assert i18n.ngettext("%(num)s run", "%(num)s runs", 2) == "%(num)s ejecuciones"
    with i18n.using_language("en"):
        assert i18n.gettext("Run now") == "Run now"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("en-US,en;q=0.9", "en"),
        ("fr;q=1, en;q=0.5, es;q=0.8", "es"),
        ("de-DE", "es"),
        ("", "es"),
        ("en;q=garbage, xx-@@", "es"),
    ],
)
def test_the_browsers_language_is_negotiated_else_spanish(header: str, language: str) -> None:
    assert i18n.negotiate(header) == language


def test_dates_numbers_and_sizes_follow_the_locale() -> None:
    moment = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    with i18n.using_language("es"):
        assert i18n.format_size(1_500_000) == "1,5 MB"
        assert i18n.format_number(1234567) == "1.234.567"
        assert "mar 2026" in i18n.format_moment(moment) and "14:05:00" in i18n.format_moment(moment)
    with i18n.using_language("en"):
        assert i18n.format_size(1_500_000) == "1.5 MB"
        assert i18n.format_size(999) == "999 byte"
        assert i18n.format_moment(moment).startswith("Mar 2, 2026")
        assert i18n.format_moment(None) == "\u2014"
