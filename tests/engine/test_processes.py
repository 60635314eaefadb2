"""Worker processes of the engine: started from any caller, and never left hanging."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from resguardo.core.errors import StorageError
from resguardo.engine.processes import ChildPool


def test_a_check_with_worker_processes_runs_from_a_script_without_a_main_guard(tmp_path: Path) -> None:
    script = tmp_path / "embedded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from resguardo.backends import LocalStorage
            from resguardo.engine.archiver import BackupOptions, backup
            from resguardo.engine.checker import check
            from resguardo.engine.crypto import KdfParameters
            from resguardo.engine.repository import Repository

            source = {str(tmp_path / "source")!r}
            import os
            os.makedirs(source)
            for number in range(20):
                with open(os.path.join(source, str(number)), "wb") as stream:
                    stream.write(os.urandom(200_000))
            storage = LocalStorage({str(tmp_path / "repository")!r}, durable=False)
            repository = Repository.create(storage, b"pass", kdf=KdfParameters(1024, 1, 1))
            backup(repository, [source], BackupOptions())
            report = check(repository, read_data=True, processes=True)
            print("ok" if report.ok and report.counts.packs_read else "failed")
            """
        )
    )
    finished = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "ok"
    assert finished.stderr == ""


def test_a_request_to_a_worker_that_cannot_answer_fails_its_future_instead_of_hanging() -> None:
    pool = ChildPool("resguardo.engine.checker", ("not a storage", b"short"), 1, StorageError)
    try:
        future = pool.submit((b"\0" * 32, None))
        with pytest.raises(StorageError):
            future.result(timeout=60)
    finally:
        pool.close()
