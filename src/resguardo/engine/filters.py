"""Path patterns for excludes (backup) and includes/excludes (restore).

A pattern is a glob over slash-separated paths: ``*`` matches within one path component, ``**``
across components, ``?`` one character, ``[...]`` a class. A pattern starting with ``/`` is
anchored at the root; any other pattern matches at any depth (``*.tmp``, ``__pycache__``,
``cache/*.bin``). A pattern also matches everything below a matching directory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from resguardo.core.errors import ConfigurationError


def _translate(pattern: str) -> str:
    """Return the regular-expression body for a glob pattern (without anchors)."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        character = pattern[index]
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
            if index < len(pattern) and pattern[index] == "/":
                parts[-1] = "(?:.*/)?"
                index += 1
            continue
        if character == "*":
            parts.append("[^/]*")
        elif character == "?":
            parts.append("[^/]")
        elif character == "[":
            end = pattern.find("]", index + 2 if pattern[index + 1 : index + 2] in ("!", "^") else index + 1)
            if end == -1:
                raise ConfigurationError(
                    f"pattern {pattern!r} has an unclosed '['", "close the character class or escape it"
                )
            body = pattern[index + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            parts.append(f"[{body}]")
            index = end
        else:
            parts.append(re.escape(character))
        index += 1
    return "".join(parts)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Return the compiled form of one pattern.

    Raises:
        ConfigurationError: the pattern is empty or malformed.
    """
    cleaned = pattern.strip()
    if not cleaned:
        raise ConfigurationError("an empty pattern was given", "remove it, or write the path to match")
    cleaned = cleaned.rstrip("/") or "/"
    if cleaned.startswith("/"):
        expression = "^" + _translate(cleaned.rstrip("/")) + "(?:/.*)?$"
    else:
        expression = "^(?:.*/)?" + _translate(cleaned) + "(?:/.*)?$"
    try:
        return re.compile(expression, re.DOTALL)
    except re.error as error:
        raise ConfigurationError(f"pattern {pattern!r} is malformed: {error}") from None


def read_pattern_file(path: str) -> list[str]:
    """Return the patterns of a file: one per line; blank lines and lines starting with # skipped.

    Raises:
        ConfigurationError: the file cannot be read.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError as error:
        raise ConfigurationError(f"cannot read pattern file {path}: {error.strerror}") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


class PathFilter:
    """A set of patterns; ``matches`` is true when any of them matches.

    Args:
        patterns: glob patterns as described in this module.

    Raises:
        ConfigurationError: a pattern is malformed.
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = [pattern for pattern in patterns]
        self._compiled = [compile_pattern(pattern) for pattern in self.patterns]

    def __bool__(self) -> bool:
        return bool(self._compiled)

    def matches(self, path: str) -> bool:
        """Return True when ``path`` (absolute, slash-separated) or one of its parents matches."""
        return any(expression.match(path) for expression in self._compiled)

    def may_match_below(self, directory: str) -> bool:
        """Return True when some path below ``directory`` could match (used for restore includes).

        Exact for anchored patterns, component by component up to the first ``**``; an unanchored
        pattern can match at any depth, so it may always match below.
        """
        names = [name for name in directory.split("/") if name]
        return any(_may_match_below(pattern, names) for pattern in self.patterns)


def _may_match_below(pattern: str, names: list[str]) -> bool:
    """Return True when an entry below the directory whose path components are ``names`` could match."""
    cleaned = pattern.strip().rstrip("/")
    if not cleaned.startswith("/"):
        return True
    components = [part for part in cleaned.split("/") if part]
    for depth, name in enumerate(names):
        if depth >= len(components):
            return True  # the directory itself matches, and so does everything below it
        component = components[depth]
        if "**" in component:
            return True
        try:
            expression = _translate(component)
        except ConfigurationError:
            return True  # a character class holding "/": the component split cut it; stay safe
        if not re.fullmatch(expression, name, re.DOTALL):
            return False
    return True
