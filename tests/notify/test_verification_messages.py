"""The messages about verification, through real workers and a real SMTP server (SQLite and
PostgreSQL): a backup verified with warnings, and a scrub that found damage, mail the operators and
administrators in their language; a clean verification mails nobody."""

from __future__ import annotations

from pathlib import Path

from resguardo.notify import Sender
from tests.fixtures.service import Service
from tests.fixtures.smtp import SmtpFactory, SmtpTestServer
from tests.notify.helpers import add_people, configure
from tests.services.verification_helpers import (
    back_up,
    flip_bytes,
    pack_ids,
    pack_path,
    random_tree,
    small_pack_repository,
    verify,
)

DAY = 24 * 3600


def _ready(service: Service, smtp_server: SmtpFactory) -> SmtpTestServer:
    server = smtp_server("starttls")
    configure(service.sessions, service.secret_key, server)
    add_people(service.sessions)
    return server


def _send(service: Service) -> None:
    Sender(service.sessions, service.secret_key, clock=service.clock).send_due()


def _tree(root: Path, files: int) -> Path:
    root.mkdir(parents=True)
    for number in range(files):
        (root / f"letter-{number:02}.txt").write_text(f"letter {number}\n" * 300)
    return root


def test_a_backup_verified_with_warnings_mails_the_reasons_in_each_language(
    service: Service, smtp_server: SmtpFactory, tmp_path: Path
) -> None:
    server = _ready(service, smtp_server)
    source = _tree(tmp_path / "letters", 40)
    job_id = service.job("letters", [source])
    back_up(service, job_id)
    _send(service)
    assert server.received == []  # verified clean: nothing to say
    for path in sorted(source.iterdir())[:30]:
        path.unlink()
    service.clock.advance(DAY)

    run = back_up(service, job_id)
    _send(service)

    by_recipient = {received.recipients[0]: received for received in server.received}
    assert sorted(by_recipient) == ["ana@example.org", "bob@example.org"]
    spanish, english = by_recipient["ana@example.org"], by_recipient["bob@example.org"]
    assert spanish.subject == "[Resguardo] Advertencias en la verificación del respaldo: letters (here)"
    assert english.subject == "[Resguardo] Backup verified with warnings: letters (here)"
    for message in (spanish, english):
        assert "- the backup has 75% fewer files than the last one (40 → 10)" in message.body
        assert f"https://backups.example.org/runs/{run.id}" in message.body


def test_a_scrub_that_finds_damage_mails_what_it_found(
    service: Service, smtp_server: SmtpFactory, tmp_path: Path
) -> None:
    server = _ready(service, smtp_server)
    repository_id, location = small_pack_repository(service, "vault")
    job_id = service.job(
        "images", [random_tree(tmp_path / "images", 6, 300_000, seed=5)], repository_id=repository_id
    )
    back_up(service, job_id)
    _send(service)
    clean = verify(service, repository_id=repository_id)
    _send(service)
    assert clean.state == "passed" and server.received == []
    damaged = max(pack_ids(location), key=lambda pack: pack_path(location, pack).stat().st_size)
    flip_bytes(pack_path(location, damaged), 100)

    for _slice in range(5):  # each scrub reads the next slice of the repository's cycle
        found = verify(service, repository_id=repository_id)
        if found.state != "passed":
            break
    _send(service)

    assert found.state == "failed"
    by_recipient = {received.recipients[0]: received for received in server.received}
    assert sorted(by_recipient) == ["ana@example.org", "bob@example.org"]
    assert by_recipient["ana@example.org"].subject == "[Resguardo] Revisión del repositorio vault: falló"
    english = by_recipient["bob@example.org"]
    assert english.subject == "[Resguardo] Scrub of repository vault: failed"
    assert "images" in english.body
    assert f"https://backups.example.org/verifications/{found.id}" in english.body
