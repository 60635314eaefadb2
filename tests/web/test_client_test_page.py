"""The client's page: the "Test connection" button runs the test and the last report is shown, in the
user's language; readers see the report but not the button."""

from __future__ import annotations

from pathlib import Path

from resguardo.catalog.enums import Language, Role, Transport
from resguardo.catalog.queries import create_client
from tests.api.conftest import NOW
from tests.web.conftest import Console, csrf_of


def _local_client(console: Console) -> int:
    with console.sessions() as session:
        client = create_client(session, name="here", transport=Transport.LOCAL, now=NOW)
        session.commit()
        return client.id


def test_the_button_runs_the_test_and_the_page_shows_the_last_report(
    console: Console, tmp_path: Path
) -> None:
    client_id = _local_client(console)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f").write_bytes(b"z" * 10)
    console.user("oper", [Role.OPERATOR], Language.ENGLISH)
    browser = console.browser("oper")
    page = browser.get(f"/clients/{client_id}")
    assert page.status_code == 200 and "This client was never tested." in page.text
    assert "Test connection" in page.text
    answer = browser.post(
        f"/clients/{client_id}/test",
        data={"csrf_token": csrf_of(page.text), "paths": f"{tmp_path / 'data'}\n{tmp_path / 'gone'}\n"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/clients/{client_id}"
    shown = browser.get(f"/clients/{client_id}").text
    assert 'id="test-report"' in shown and "Last test: failed" in shown and "by oper" in shown
    assert str(tmp_path / "gone") in shown and "does not exist" in shown


def test_the_report_is_in_spanish_for_a_spanish_reader_who_gets_no_button(
    console: Console, tmp_path: Path
) -> None:
    client_id = _local_client(console)
    console.user("oper", [Role.OPERATOR], Language.ENGLISH)
    operator = console.browser("oper")
    csrf = csrf_of(operator.get(f"/clients/{client_id}").text)
    operator.post(f"/clients/{client_id}/test", data={"csrf_token": csrf, "paths": str(tmp_path)})
    console.user("aud", [Role.AUDITOR], Language.SPANISH)
    auditor = console.browser("aud")
    page = auditor.get(f"/clients/{client_id}").text
    assert "Prueba de conexión" in page and "la ruta existe" in page and "Probar la conexión" not in page
    refused = auditor.post(
        f"/clients/{client_id}/test", data={"csrf_token": csrf_of(page) if "csrf_token" in page else ""}
    )
    assert refused.status_code == 403
