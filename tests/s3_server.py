"""moto's standalone S3 server on loopback, and fixtures giving tests a bucket of their own on it.

The server runs as a subprocess (``python -m moto.server``) on 127.0.0.1 at a free port, started once
per test session (per pytest-xdist worker). Tests talk to it with fake credentials that are set only
for them: :func:`s3_environment` points every ``AWS_*`` variable at test values and at empty
configuration files, so nothing in the developer's ``~/.aws`` is read.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from resguardo.backends.s3 import S3Storage

ACCESS_KEY = "resguardo-test-key"
SECRET_KEY = "resguardo-test-secret"
REGION = "us-east-1"


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MotoServer:
    """A moto server subprocess on ``127.0.0.1:port``; can be stopped and started again on the same port.

    Args:
        environment: extra environment variables for the server (e.g. ``INITIAL_NO_AUTH_ACTION_COUNT``).
    """

    def __init__(self, environment: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.environment = environment or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the endpoint URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it answers.

        Raises:
            RuntimeError: it did not answer within 30 seconds.
        """
        environment = {**os.environ, **self.environment}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto server did not start within 30 seconds")

    def stop(self) -> None:
        """Stop the server (its state is lost)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


def fake_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Set test credentials and region, and hide every other AWS setting of the user's environment."""
    empty = tmp_path_factory.mktemp("aws-config")
    for name in list(os.environ):
        if name.startswith("AWS_") or name.startswith("RESGUARDO_S3_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """Return the session's moto S3 server."""
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Give the test fake AWS credentials and nothing else of the user's AWS settings."""
    fake_aws_environment(monkeypatch, tmp_path_factory)


def admin_client(endpoint: str, **credentials: str) -> Any:
    """Return a boto3 S3 client for ``endpoint`` with the test credentials (or those given)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=credentials.get("access_key", ACCESS_KEY),
        aws_secret_access_key=credentials.get("secret_key", SECRET_KEY),
    )


def new_bucket(endpoint: str, *, object_lock: bool = False) -> str:
    """Create a bucket with a fresh name on ``endpoint`` (Object Lock enabled if asked); return its name."""
    name = f"test-{uuid.uuid4().hex[:20]}"
    admin_client(endpoint).create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
    return name


@pytest.fixture
def s3_bucket(moto_server: MotoServer, s3_environment: None) -> str:
    """Return the name of a new, empty bucket of the test's own."""
    return new_bucket(moto_server.url)


@pytest.fixture
def s3_storage(moto_server: MotoServer, s3_bucket: str) -> Iterator[S3Storage]:
    """Return an S3Storage on a new bucket, under the prefix ``repository``."""
    storage = S3Storage(s3_bucket, "repository", endpoint_url=moto_server.url, max_attempts=3)
    yield storage
    storage.close()
