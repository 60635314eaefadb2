"""Fixtures for the CLI tests: run the command in-process or as a subprocess, and a ready repository.

Every test runs with ``RESGUARDO_TEST_KDF=fast`` (cheap key derivation, a testing aid of the CLI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from resguardo.cli.main import run

PASSPHRASE = "correct horse battery staple"
SRC = str(Path(__file__).resolve().parents[2] / "src")


@dataclass
class Outcome:
    """What one run of the command printed and returned."""

    exit_code: int
    stdout_bytes: bytes
    stderr: str

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", "replace")

    def json(self) -> Any:
        """Return standard output parsed as one JSON document."""
        return json.loads(self.stdout)

    def json_lines(self) -> list[dict[str, Any]]:
        """Return standard output parsed as JSON lines."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def invoke(argv: Sequence[str], *, input: bytes | None = None) -> Outcome:
    """Run ``resguardo ARGV`` in-process through :func:`resguardo.cli.main.run`, capturing its streams."""
    runner = CliRunner()
    with runner.isolation(input=input) as streams:
        exit_code = run(list(argv))
        sys.stdout.flush()
        sys.stderr.flush()
        stdout, stderr = streams[0].getvalue(), streams[1].getvalue()
    return Outcome(exit_code, stdout, stderr.decode("utf-8", "replace"))


def subprocess_env(**extra: str) -> dict[str, str]:
    """Return the environment for a ``resguardo`` subprocess: this one, with the source tree importable."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = SRC + os.pathsep + environment.get("PYTHONPATH", "")
    environment.update(extra)
    return environment


def run_subprocess(argv: Sequence[str], *, input: bytes | None = None, **extra_env: str) -> Outcome:
    """Run ``python -m resguardo ARGV`` as a real process."""
    completed = subprocess.run(
        [sys.executable, "-m", "resguardo", *argv],
        input=input,
        capture_output=True,
        env=subprocess_env(**extra_env),
        timeout=120,
        check=False,
    )
    return Outcome(completed.returncode, completed.stdout, completed.stderr.decode("utf-8", "replace"))


@dataclass
class Repo:
    """A repository made with ``resguardo init`` and the options that open it."""

    path: Path
    password_file: Path
    tmp_path: Path

    @property
    def options(self) -> list[str]:
        return ["--repo", str(self.path), "--password-file", str(self.password_file)]

    def __call__(self, *argv: str, input: bytes | None = None) -> Outcome:
        """Run a command on this repository in-process."""
        return invoke([*self.options, *argv], input=input)

    def json(self, *argv: str) -> Any:
        """Run a command with --json and return its parsed single JSON document."""
        outcome = self("--json", *argv)
        assert outcome.exit_code == 0, outcome.stderr
        return outcome.json()


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every key slot created by the CLI cheap to derive (tests only)."""
    monkeypatch.setenv("RESGUARDO_TEST_KDF", "fast")
    monkeypatch.delenv("RESGUARDO_PASSWORD_FILE", raising=False)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    return path


@pytest.fixture
def repo(tmp_path: Path, password_file: Path) -> Repo:
    """Return a fresh repository, created through the CLI with a small pack size."""
    repository = Repo(tmp_path / "repository", password_file, tmp_path)
    outcome = repository("init", "--pack-size", "1")
    assert outcome.exit_code == 0, outcome.stderr
    return repository


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """Return a small tree to back up: text, binary, nesting, an empty folder and a symlink."""
    root = tmp_path / "source"
    write(root / "a.txt", b"hello, world\n")
    write(root / "sub" / "b.bin", os.urandom(200_000))
    write(root / "sub" / "deeper" / "c.txt", b"nested text " * 500)
    (root / "empty-dir").mkdir()
    (root / "link").symlink_to("a.txt")
    return root
