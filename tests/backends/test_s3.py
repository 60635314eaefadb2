"""What is particular to S3Storage, on moto's S3 server: ranges, pages, errors, retries, worker processes.

The storage contract itself runs against S3 in test_faulty.py.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from resguardo.backends import open_storage
from resguardo.backends.s3 import S3Storage, parse_location
from resguardo.core.errors import ConfigurationError, ObjectNotFound, StorageError
from tests.backends.fault_proxy import fault_proxy
from tests.s3_server import ACCESS_KEY, SECRET_KEY, MotoServer, free_port


def storage_through(endpoint: str, bucket: str, **options: int) -> S3Storage:
    return S3Storage(bucket, "repository", endpoint_url=endpoint, **options)  # type: ignore[arg-type]


def test_locations_name_a_bucket_and_a_prefix() -> None:
    assert parse_location("s3://bucket/some/prefix/") == ("bucket", "some/prefix")
    assert parse_location("s3://bucket") == ("bucket", "")
    for bad in ("s3://", "s3:///prefix", "s3://user:secret@bucket/x"):
        with pytest.raises(ConfigurationError):
            parse_location(bad)


def test_open_storage_takes_the_endpoint_from_the_option_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RESGUARDO_S3_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("RESGUARDO_S3_PATH_STYLE", "1")
    from_environment = open_storage("s3://bucket/prefix")
    assert isinstance(from_environment, S3Storage)
    assert (from_environment.endpoint_url, from_environment.path_style) == ("http://127.0.0.1:1", True)
    given = open_storage("s3://bucket/prefix", s3_endpoint="http://127.0.0.1:2")
    assert isinstance(given, S3Storage)
    assert given.endpoint_url == "http://127.0.0.1:2"
    assert given.location == "s3://bucket/prefix"
    assert not given.is_local


def test_objects_live_under_the_prefix(s3_storage: S3Storage) -> None:
    s3_storage.save("data/ab/one", b"pack")
    keys = [item["Key"] for item in s3_storage.client.list_objects_v2(Bucket=s3_storage.bucket)["Contents"]]
    assert keys == ["repository/data/ab/one"]


def test_a_ranged_read_transfers_only_the_range(
    moto_server: MotoServer, s3_storage: S3Storage, s3_bucket: str
) -> None:
    content = os.urandom(3 * 1024 * 1024)
    s3_storage.save("data/ab/pack", content)
    with fault_proxy(moto_server.url) as proxy:
        storage = storage_through(proxy.url, s3_bucket)
        assert storage.load("data/ab/pack", 1_000_000, 100) == content[1_000_000:1_000_100]
        assert storage.load("data/ab/pack", 3 * 1024 * 1024 - 10) == content[-10:]
    assert [request[1] for request in proxy.requests] == ["bytes=1000000-1000099", "bytes=3145718-"]
    assert proxy.bytes_sent == 110


@pytest.mark.slow
def test_listing_pages_through_more_than_a_thousand_objects(s3_storage: S3Storage) -> None:
    names = {f"data/{number % 256:02x}/{number:064x}" for number in range(1100)}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: s3_storage.save(name, b"x"), names))
    s3_storage.save("index/other", b"y")
    assert {stored.name for stored in s3_storage.list("data/")} == names
    assert sum(1 for _ in s3_storage.list("")) == 1101


def test_a_missing_bucket_is_named_with_how_to_create_it(
    moto_server: MotoServer, s3_environment: None
) -> None:
    storage = S3Storage("no-such-bucket-here", "repository", endpoint_url=moto_server.url)
    attempts: list[Callable[[], object]] = [
        lambda: list(storage.list("")),
        lambda: storage.exists("config"),
        lambda: storage.size("config"),
        lambda: storage.save("config", b"x"),
    ]
    for attempt in attempts:
        with pytest.raises(StorageError) as caught:
            attempt()
        assert "bucket 'no-such-bucket-here' does not exist" in caught.value.message
        assert "aws s3 mb s3://no-such-bucket-here" in caught.value.hint
        assert not isinstance(caught.value, ObjectNotFound)


def test_missing_credentials_name_the_variables_to_set(
    moto_server: MotoServer, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    storage = storage_through(moto_server.url, s3_bucket)
    with pytest.raises(StorageError) as caught:
        storage.exists("config")
    assert "no usable S3 credentials" in caught.value.message
    assert "AWS_ACCESS_KEY_ID" in caught.value.hint
    assert "AWS_PROFILE" in caught.value.hint


def test_an_unknown_profile_is_a_configuration_error(
    moto_server: MotoServer, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nobody")
    with pytest.raises(ConfigurationError, match="profile 'nobody' does not exist"):
        storage_through(moto_server.url, s3_bucket).exists("config")


def test_credentials_come_from_the_profile_in_the_home_folder(
    moto_server: MotoServer, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.delenv("AWS_CONFIG_FILE")
    monkeypatch.delenv("AWS_SHARED_CREDENTIALS_FILE")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_PROFILE", "backup")
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(
        f"[backup]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    storage = storage_through(moto_server.url, s3_bucket)
    storage.save("config", b"settings")
    assert storage.load("config") == b"settings"


def test_an_unreachable_endpoint_is_named(s3_bucket: str) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    storage = storage_through(endpoint, s3_bucket, max_attempts=2)
    with pytest.raises(StorageError) as caught:
        storage.load("config")
    assert f"cannot reach the S3 endpoint {endpoint}" in caught.value.message
    assert "--s3-endpoint" in caught.value.hint


@pytest.mark.parametrize("fault", ["503", "drop"])
def test_transient_failures_are_retried(
    moto_server: MotoServer, s3_storage: S3Storage, s3_bucket: str, fault: str
) -> None:
    s3_storage.save("index/one", b"an index")
    with fault_proxy(moto_server.url, [fault, fault]) as proxy:
        storage = storage_through(proxy.url, s3_bucket)
        assert storage.load("index/one") == b"an index"
        storage.save("index/two", b"another")
    assert len(proxy.requests) == 4  # two refused, then the load, then the save
    assert s3_storage.load("index/two") == b"another"


def test_a_body_cut_short_is_read_again(
    moto_server: MotoServer, s3_storage: S3Storage, s3_bucket: str
) -> None:
    content = os.urandom(200_000)
    s3_storage.save("data/ab/pack", content)
    with fault_proxy(moto_server.url, ["cut"]) as proxy:
        assert storage_through(proxy.url, s3_bucket).load("data/ab/pack") == content
    assert len(proxy.requests) == 2


def test_failures_that_do_not_pass_are_reported_after_the_retries(
    moto_server: MotoServer, s3_storage: S3Storage, s3_bucket: str
) -> None:
    with fault_proxy(moto_server.url, ["503"] * 10) as proxy, pytest.raises(StorageError, match="SlowDown"):
        storage_through(proxy.url, s3_bucket, max_attempts=3).save("index/one", b"x")
    assert len(proxy.requests) == 3
    assert not s3_storage.exists("index/one")


def test_a_restarted_server_is_reached_again(s3_environment: None) -> None:
    server = MotoServer()
    server.start()
    try:
        bucket = _create_bucket(server.url)
        storage = storage_through(server.url, bucket)
        storage.save("config", b"before")
        server.stop()
        with pytest.raises(StorageError, match="cannot reach"):
            storage_through(server.url, bucket, max_attempts=1).exists("config")
        server.start()  # a fresh server: the bucket is gone, but the storage's connections recover
        bucket = _create_bucket(server.url, bucket)
        storage.save("config", b"after")
        assert storage.load("config") == b"after"
    finally:
        server.stop()


def _create_bucket(endpoint: str, name: str = "restarted-bucket") -> str:
    from tests.s3_server import admin_client

    admin_client(endpoint).create_bucket(Bucket=name)
    return name


def _child_round_trip(storage: S3Storage) -> bytes:
    storage.save("index/from-child", b"written by a child, pid %d" % os.getpid())
    return storage.load("config")


def _child_object_lock(storage: S3Storage) -> tuple[str, int] | None:
    return storage.object_lock


def test_the_storage_is_shared_with_worker_processes(s3_storage: S3Storage) -> None:
    s3_storage.save("config", b"settings")
    assert s3_storage.shareable_between_processes
    assert s3_storage._client is not None
    state = pickle.dumps(s3_storage)
    assert SECRET_KEY.encode() not in state
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        assert pool.apply(_child_round_trip, (s3_storage,)) == b"settings"
        s3_storage.object_lock = ("governance", 2)  # as if enabled: the setting travels with the storage
        assert pool.apply(_child_object_lock, (s3_storage,)) == ("governance", 2)
    assert s3_storage.load("index/from-child").startswith(b"written by a child")


def test_importing_the_s3_backend_does_not_import_boto3() -> None:
    code = (
        "import sys, resguardo.backends.s3, resguardo.backends.open;"
        "resguardo.backends.open.open_storage('s3://bucket/prefix');"
        "print('boto3' in sys.modules or 'botocore' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
