"""Tests of path patterns: what they match, and which directories a restore include must descend into."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resguardo.core.errors import ConfigurationError
from resguardo.engine.filters import PathFilter


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.tmp", "/home/ana/notes.tmp", True),
        ("*.tmp", "/home/ana/notes.tmp.bak", False),
        ("__pycache__", "/srv/app/__pycache__/module.pyc", True),
        ("/srv", "/srv/app/main.py", True),
        ("/srv", "/srv2/app", False),
        ("/srv/*/main.py", "/srv/app/main.py", True),
        ("/srv/*/main.py", "/srv/app/sub/main.py", False),
        ("/srv/**/main.py", "/srv/app/sub/main.py", True),
        ("/srv/**/main.py", "/srv/main.py", True),
        ("cache/*.bin", "/var/cache/a.bin", True),
        ("file?.txt", "/x/file1.txt", True),
        ("file[!0-9].txt", "/x/file1.txt", False),
        ("/", "/anything", True),
    ],
)
def test_patterns_match_paths_and_everything_below_them(pattern: str, path: str, expected: bool) -> None:
    assert PathFilter([pattern]).matches(path) is expected


@pytest.mark.parametrize("pattern", ["", "   ", "[unclosed"])
def test_empty_or_malformed_patterns_are_configuration_errors(pattern: str) -> None:
    with pytest.raises(ConfigurationError):
        PathFilter([pattern])


@pytest.mark.parametrize(
    ("pattern", "directory", "expected"),
    [
        ("/srv/app/main.py", "/", True),
        ("/srv/app/main.py", "/srv", True),
        ("/srv/app/main.py", "/srv/app", True),
        ("/srv/app/main.py", "/srv/other", False),
        ("/srv/app/main.py", "/home", False),
        ("/srv/app", "/srv/app/deep", True),
        ("/s*/app/x", "/srv", True),
        ("/s*/app/x", "/home", False),
        ("/srv/**/x", "/srv/a/b/c", True),
        ("/srv/**/x", "/home/a", False),
        ("/**/x", "/home/a", True),
        ("*.txt", "/any/where", True),
        ("cache/*.bin", "/var", True),
        ("/", "/any", True),
        ("/srv/[ab]pp/x", "/srv/app", True),
        ("/srv/[ab]pp/x", "/srv/cpp", False),
    ],
)
def test_may_match_below_is_false_only_where_nothing_below_can_match(
    pattern: str, directory: str, expected: bool
) -> None:
    assert PathFilter([pattern]).may_match_below(directory) is expected


def test_may_match_below_with_several_patterns_is_true_when_any_may_match() -> None:
    patterns = PathFilter(["/srv/app/x", "/home/ana/y"])
    assert patterns.may_match_below("/home")
    assert patterns.may_match_below("/srv/app")
    assert not patterns.may_match_below("/etc")


NAME = st.sampled_from(["a", "b", "ab", "x.txt", "y.log"])
PATTERN_PART = st.sampled_from(["a", "b", "*", "?", "a*", "*.txt", "[ab]", "**", "x.txt"])


@given(
    parts=st.lists(PATTERN_PART, min_size=1, max_size=4),
    directory=st.lists(NAME, max_size=3),
    below=st.lists(NAME, min_size=1, max_size=3),
)
def test_may_match_below_never_prunes_a_directory_holding_a_match(
    parts: list[str], directory: list[str], below: list[str]
) -> None:
    patterns = PathFilter(["/" + "/".join(parts)])
    directory_path = "/" + "/".join(directory)
    path = "/" + "/".join(directory + below)
    if patterns.matches(path) and not patterns.matches(directory_path):
        assert patterns.may_match_below(directory_path)
