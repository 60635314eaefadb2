"""The console's page of a restore whose data was damaged: it shows the intact copy in a second
repository and, to those who start restores, the button that restores from it (as the API does)."""

from __future__ import annotations

from pathlib import Path

from resguardo.catalog import Language, RestoreKind, RestoreState, Role, queries
from resguardo.services.restores import RestoreOrder, request_restore
from tests.fixtures.restores import backed_up_run, content_packs, copy_repository, damage_packs
from tests.fixtures.service import CREATED, Service, make_tree
from tests.web.conftest import Console, csrf_of


def _failed_restore(console: Console, tmp_path: Path) -> tuple[Service, int, int]:
    """A tree backed up into ``first`` and copied into ``second``; ``first`` damaged; a restore of the
    tree carried out (and failed); return the service, the restore and the ID of ``second``."""
    service = Service(console.sessions, console.secret_key, tmp_path)
    tree = make_tree(tmp_path / "tree")
    first, second = service.repository("first"), service.repository("second")
    run = backed_up_run(service, service.job("files", [tree], repository_id=first, max_retries=0))
    copy_repository(service, first, second)
    damage_packs(tmp_path / "repo-first", content_packs(service, first))
    order = RestoreOrder(run.id, RestoreKind.PATHS, [str(tree)], folder=str(tmp_path / "restored"))
    with console.sessions() as session:
        restore_id = request_restore(session, console.secret_key, order, CREATED).id
        session.commit()
    service.worker().run_until_idle()
    return service, restore_id, second


def test_the_failed_restore_shows_the_copy_and_its_button_queues_a_restore_from_it(
    console: Console, tmp_path: Path
) -> None:
    _service, restore_id, second = _failed_restore(console, tmp_path)
    console.user("rita", [Role.OPERATOR], Language.ENGLISH)
    console.user("ana", [Role.OPERATOR], Language.SPANISH)
    console.user("aud", [Role.AUDITOR], Language.ENGLISH)
    browser = console.browser("rita")

    page = browser.get(f"/restores/{restore_id}").text

    assert 'id="restore-alternative"' in page and "Restore from the copy in second" in page
    assert "Restaurar desde la copia en second" in console.browser("ana").get(f"/restores/{restore_id}").text
    audited = console.browser("aud").get(f"/restores/{restore_id}").text
    assert 'id="restore-alternative"' in audited and "restore-from-copy" not in audited
    answer = browser.post(
        f"/restores/{restore_id}/retry", data={"csrf_token": csrf_of(page), "from_copy": "on"}
    )
    assert answer.status_code == 303
    new_id = int(answer.headers["location"].rsplit("/", 1)[1])
    with console.sessions() as session:
        again = queries.get_restore(session, new_id)
        assert (again.state, again.repository_id) == (RestoreState.QUEUED, second)
