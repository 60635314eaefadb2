"""The console's languages: gettext catalogs (``locale/<language>/LC_MESSAGES/console.po``) read with
Babel when first used, the language of a request, and dates, numbers and sizes written per locale.

The language of a page is the user's setting; before login, the browser's ``Accept-Language``; else
Spanish. Templates call ``_()`` (and ``ngettext``) through the Jinja2 i18n extension, which reads the
language of the request being rendered from :data:`_CURRENT`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from babel.units import format_unit

from resguardo.catalog.enums import Language

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "console"
LANGUAGES = tuple(language.value for language in Language)
DEFAULT_LANGUAGE = Language.SPANISH.value
_CURRENT: ContextVar[str] = ContextVar("resguardo_console_language", default=DEFAULT_LANGUAGE)
_SIZE_UNITS = ("byte", "kilobyte", "megabyte", "gigabyte", "terabyte", "petabyte")


def po_path(language: str) -> Path:
    """Return the path of the catalog of ``language``."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> Translations:
    """Return the translations of ``language`` (read and compiled in memory once).

    Raises:
        FileNotFoundError: the package has no catalog for ``language`` (a packaging error).
    """
    with po_path(language).open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def current_language() -> str:
    """Return the language of the page being rendered."""
    return _CURRENT.get()


@contextmanager
def using_language(language: str) -> Iterator[None]:
    """Within the block, translate and format in ``language``."""
    token = _CURRENT.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def gettext(message: str) -> str:
    """Return ``message`` in the current language."""
    return translations(current_language()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """Return the singular or plural form of a message for ``count`` in the current language."""
    return translations(current_language()).ngettext(singular, plural, count)


def mark(message: str) -> str:
    """Mark ``message`` for translation where it is defined; it is translated when shown."""
    return message


def negotiate(accept_language: str | None) -> str:
    """Return the console language the browser prefers (``Accept-Language``), else Spanish."""
    wanted = []
    for part in (accept_language or "").split(","):
        tag, _, parameters = part.strip().partition(";")
        weight = 1.0
        if parameters.strip().startswith("q="):
            try:
                weight = float(parameters.strip()[2:])
            except ValueError:
                weight = 0.0
        if tag and weight > 0:  # q=0: not acceptable
            wanted.append((weight, tag.strip()))
    for _weight, tag in sorted(wanted, key=lambda item: -item[0]):
        try:
            language = Locale.parse(tag.replace("-", "_")).language
        except (ValueError, UnknownLocaleError):
            continue
        if language in LANGUAGES:
            return language
    return DEFAULT_LANGUAGE


def format_moment(value: datetime | None) -> str:
    """Return a moment in the current locale (UTC), or a dash for None."""
    if value is None:
        return "\u2014"
    return str(format_datetime(value, "medium", tzinfo=UTC, locale=current_language())) + " UTC"


def format_day(value: date) -> str:
    """Return a date in the current locale's short form."""
    return str(format_date(value, "short", locale=current_language()))


def format_number(value: int | float) -> str:
    """Return a number with the current locale's separators."""
    return str(format_decimal(value, locale=current_language()))


def format_size(size: int) -> str:
    """Return a size in bytes in the largest fitting decimal unit, in the current locale (e.g. 1,5 MB)."""
    value, unit = float(size), 0
    while value >= 1000 and unit < len(_SIZE_UNITS) - 1:
        value /= 1000
        unit += 1
    pattern = "#,##0" if unit == 0 else "#,##0.#"
    return str(
        format_unit(value, f"digital-{_SIZE_UNITS[unit]}", "short", format=pattern, locale=current_language())
    )
