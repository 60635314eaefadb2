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
        expression = "^" + _translate(cleaned) + "(?:/.*)?$"
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
        """Return True when some path below ``directory`` could match (used for restore includes)."""
        prefix = directory.rstrip("/") + "/"
        for pattern in self.patterns:
            cleaned = pattern.strip().rstrip("/")
            if not cleaned.startswith("/") or "**" in cleaned:
                return True
            components = cleaned.split("/")
            wanted = prefix.split("/")[:-1]
            head = "/".join(components[: len(wanted)])
            if len(components) > len(wanted) - 1 and compile_pattern(head or "/").match(directory or "/"):
                return True
        return False
