"""The PostgreSQL client tools are chosen for the server's major version, or refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from resguardo.core.errors import SourceError
from resguardo.sources.pgversions import installed_tools, major_of, pick_tools


def fake_root(tmp_path: Path, *majors: int) -> Path:
    root = tmp_path / "postgresql"
    for major in majors:
        bin_dir = root / str(major) / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "pg_dump").write_text("#!/bin/sh\n")
    (root / "common").mkdir(parents=True)
    return root


def test_the_same_major_version_is_picked_among_several(tmp_path: Path) -> None:
    installed = installed_tools(fake_root(tmp_path, 17, 13, 15), search_path=False)
    assert [tools.major for tools in installed] == [13, 15, 17]
    assert pick_tools(15, installed).bin_dir == tmp_path / "postgresql" / "15" / "bin"


def test_the_nearest_newer_version_serves_an_older_server(tmp_path: Path) -> None:
    installed = installed_tools(fake_root(tmp_path, 13, 16, 17), search_path=False)
    assert pick_tools(14, installed).major == 16


def test_a_server_newer_than_every_tool_names_both_versions_and_the_package(tmp_path: Path) -> None:
    installed = installed_tools(fake_root(tmp_path, 13, 15), search_path=False)
    with pytest.raises(SourceError) as failure:
        pick_tools(17, installed, "postgresql://backup@db1:5432")
    message = failure.value.message
    assert "postgresql://backup@db1:5432 runs PostgreSQL 17" in message
    assert "newest pg_dump here is version 15" in message
    assert "postgresql-client-17" in failure.value.hint


def test_no_tools_at_all_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no pg_dump found") as failure:
        pick_tools(15, installed_tools(tmp_path / "nothing", search_path=False))
    assert "postgresql-client-15" in failure.value.hint


def test_major_versions_are_read_from_server_version_num() -> None:
    assert major_of(150004) == 15
    assert major_of(170000) == 17
    assert major_of(90624) == 9
