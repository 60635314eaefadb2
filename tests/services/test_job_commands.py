"""A job's commands before and after its backup: run on the client, logged, and failing the run clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from resguardo.catalog import ClientSecretName, RunState, queries
from resguardo.catalog.models import Run
from resguardo.core.errors import UsageError
from resguardo.engine.browse import walk_snapshot
from tests.fixtures.service import CREATED, Service, make_tree
from tests.fixtures.sshd import SshServer, public_key
from tests.services.test_job_sources import _run_now, _snapshot


def _paths_job(service: Service, tree: Path, commands: dict[str, object], **options: object) -> int:
    source = {"kind": "paths", "paths": [str(tree)], "excludes": [], "commands": commands}
    return service.job("docs", [tree], source=source, max_retries=0, **options)


def _files(service: Service, job_id: int, run: Run) -> set[str]:
    """Return the names of every entry of the run's snapshot."""
    repository, snapshot = _snapshot(service, job_id, str(run.snapshot_id))
    return {path.rsplit("/", 1)[-1] for path, _node in walk_snapshot(repository, snapshot)}


def test_the_command_before_runs_first_and_the_one_after_last_both_in_the_log(
    service: Service, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree")
    marker = tmp_path / "after.txt"
    job_id = _paths_job(
        service,
        tree,
        {"before": f"echo quiesced; echo dumped > {tree}/dump.sql", "after": f"echo resumed > {marker}"},
    )

    run = _run_now(service, job_id)

    assert run.state is RunState.SUCCEEDED, run.error
    assert "before: quiesced" in run.log
    assert "dump.sql" in _files(service, job_id, run)  # written by the command before the backup
    assert marker.read_text() == "resumed\n"
    assert run.log.index("before: quiesced") < run.log.index("backing up") < run.log.index("after: running")


def test_a_failing_command_before_fails_the_run_and_nothing_is_backed_up(
    service: Service, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree")
    job_id = _paths_job(service, tree, {"before": "echo the database is busy >&2; exit 4"})

    run = _run_now(service, job_id)

    assert run.state is RunState.FAILED and run.snapshot_id is None
    assert "the command before the backup exited 4" in run.error
    assert "the database is busy" in run.error and "before: the database is busy" in run.log


def test_a_command_past_its_time_limit_is_stopped_and_fails_the_run(service: Service, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    job_id = _paths_job(service, tree, {"before": "sleep 30", "timeout_seconds": 1})

    run = _run_now(service, job_id)

    assert run.state is RunState.FAILED
    assert "ran past its limit of 1 s" in run.error


def test_a_failing_command_after_makes_the_run_partial_with_its_snapshot(
    service: Service, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree")
    job_id = _paths_job(service, tree, {"after": "exit 2"})

    run = _run_now(service, job_id)

    assert run.state is RunState.PARTIAL and run.snapshot_id is not None
    assert "the command after the backup exited 2" in run.error


def test_commands_of_an_ssh_client_run_there_with_its_sealed_key(
    service: Service, sshd_server: SshServer, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "remote")
    with service.sessions() as session:
        client = queries.create_client(
            session,
            name="web1",
            now=CREATED,
            address="127.0.0.1",
            port=sshd_server.port,
            ssh_user=sshd_server.user,
            ssh_host_key=public_key(sshd_server.host_key),
        )
        queries.set_client_secret(
            session,
            service.secret_key,
            client.id,
            ClientSecretName.SSH_PRIVATE_KEY,
            sshd_server.client_key.read_text(),
        )
        session.commit()
        client_id = client.id
    job_id = _paths_job(
        service, tree, {"before": f"echo on $(whoami) > {tree}/where.txt"}, client_id=client_id
    )

    run = _run_now(service, job_id)

    assert run.state is RunState.SUCCEEDED, run.error
    assert (tree / "where.txt").read_text() == f"on {sshd_server.user}\n"
    assert "where.txt" in _files(service, job_id, run)
    assert sshd_server.client_key.read_text() not in run.log


@pytest.mark.parametrize(
    ("commands", "field"),
    [
        ("stop app", "source.commands"),
        ({"before": 3}, "source.commands.before"),
        ({"during": "x"}, "source.commands.during"),
        ({"timeout_seconds": 0}, "source.commands.timeout_seconds"),
        ({"timeout_seconds": True}, "source.commands.timeout_seconds"),
    ],
)
def test_bad_commands_are_refused_naming_the_field(
    service: Service, tmp_path: Path, commands: object, field: str
) -> None:
    with pytest.raises(UsageError) as refused:
        _paths_job(service, tmp_path, commands)  # type: ignore[arg-type]
    assert getattr(refused.value, "api_field", None) == field
