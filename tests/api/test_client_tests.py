"""Client credentials through the API (write-only secrets) and the connectivity test endpoints."""

from __future__ import annotations

from pathlib import Path

from resguardo.catalog import Role
from tests.api.conftest import Api

PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-key-body-4410\n-----END OPENSSH PRIVATE KEY-----"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def test_client_secrets_are_accepted_listed_by_name_and_never_returned(
    api: Api, admin: dict[str, str]
) -> None:
    body = {
        "name": "web1",
        "address": "web1.example",
        "ssh_host_key": HOST_KEY,
        "database_url": "postgresql://backup@web1.example:5432/",
        "secrets": {"ssh_private_key": PRIVATE_KEY, "database_password": "db-pass-3319"},
    }
    created = api.client.post("/api/v1/clients", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["secrets_set"] == ["database_password", "ssh_private_key"]
    path = f"/api/v1/clients/{created.json()['id']}"
    changed = api.client.patch(
        path,
        json={"secrets": {"ssh_key_passphrase": "key-pass-7781"}, "remove_secrets": ["database_password"]},
        headers=admin,
    )
    assert changed.json()["secrets_set"] == ["ssh_key_passphrase", "ssh_private_key"]
    shown = api.client.get(path, headers=admin)
    assert shown.json()["ssh_host_key"] == HOST_KEY
    audit = api.client.get("/api/v1/audit", params={"limit": 500}, headers=admin)
    update = next(entry for entry in audit.json()["items"] if entry["action"] == "client.update")
    assert update["after"]["secrets_set"] == ["ssh_key_passphrase", "ssh_private_key"]
    everything = created.text + changed.text + shown.text + audit.text
    for secret in ("secret-key-body-4410", "db-pass-3319", "key-pass-7781"):
        assert secret not in everything


def test_a_password_in_the_database_url_or_a_bad_host_key_is_refused_naming_the_field(
    api: Api, admin: dict[str, str]
) -> None:
    bad_url = {"name": "db1", "transport": "local", "database_url": "mysql://root:hunter2@db/"}
    response = api.client.post("/api/v1/clients", json=bad_url, headers=admin)
    assert response.status_code == 422 and "hunter2" not in response.text
    assert "database_url" in response.text
    bad_key = {"name": "db2", "address": "x.example", "ssh_host_key": "not a key"}
    response = api.client.post("/api/v1/clients", json=bad_key, headers=admin)
    assert response.status_code == 422 and "ssh_host_key" in response.text


def test_the_test_runs_is_stored_and_read_back_by_readers(
    api: Api, admin: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f").write_bytes(b"x" * 100)
    created = api.client.post("/api/v1/clients", json={"name": "here", "transport": "local"}, headers=admin)
    path = f"/api/v1/clients/{created.json()['id']}/test"
    never = api.client.get(path, headers=admin)
    assert never.status_code == 404 and "never tested" in never.json()["error"]["message"]
    _id, operator = api.user("oper", [Role.OPERATOR])
    body = {"paths": [str(tmp_path / "data"), str(tmp_path / "gone")]}
    ran = api.client.post(path, json=body, headers=api.headers(operator))
    assert ran.status_code == 200, ran.text
    report = ran.json()
    assert report["tested_by"] == "oper" and report["summary"]["failed"] == 1
    assert report["summary"]["estimated_bytes"] == 100
    missing = next(item for item in report["items"] if item["target"] == str(tmp_path / "gone"))
    assert (missing["check"], missing["status"]) == ("path exists", "failed") and missing["fix"]
    _id, auditor = api.user("aud", [Role.AUDITOR])
    assert api.client.get(path, headers=api.headers(auditor)).json() == report
    assert api.client.post(path, json={}, headers=api.headers(auditor)).status_code == 403
    _id, custodian = api.user("keeper", [Role.CUSTODIAN])
    assert api.client.get(path, headers=api.headers(custodian)).status_code == 403


def test_a_test_body_of_the_wrong_shape_is_a_422_naming_the_field(api: Api, admin: dict[str, str]) -> None:
    created = api.client.post("/api/v1/clients", json={"name": "here", "transport": "local"}, headers=admin)
    path = f"/api/v1/clients/{created.json()['id']}/test"
    response = api.client.post(path, json={"paths": "/srv"}, headers=admin)
    assert response.status_code == 422 and "paths" in response.text
    response = api.client.post(path, json={"job_id": 999_999}, headers=admin)
    assert response.status_code == 404
