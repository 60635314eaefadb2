"""Storage in an S3 bucket (AWS, MinIO, Ceph RGW, Backblaze B2 ...), through the plain S3 API.

Location ``s3://BUCKET/PREFIX``: object ``data/ab/<id>`` is the key ``PREFIX/data/ab/<id>``.

* **Endpoint**: the ``endpoint_url`` argument, else botocore's own lookup (``AWS_ENDPOINT_URL_S3``,
  ``AWS_ENDPOINT_URL``, ``endpoint_url`` in the profile), else AWS. **Region and credentials** come
  from botocore's usual chain: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` /
  ``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` with ``~/.aws/credentials`` and ``~/.aws/config`` (found
  through ``$HOME``), then instance or container roles.
* **Writes** are single PUTs, which S3 makes visible whole or not at all, each with a Content-MD5 so
  that the server refuses a body damaged in transit. A single PUT takes at most 5 GiB; packs are
  16 MiB by default and at most 1 GiB, so multipart uploads are never needed.
* **Reads** of a part of an object are ranged GETs; listings are paginated ListObjectsV2 calls.
* **Retries**: botocore retries connection errors, timeouts, HTTP 500/502/503/504 and throttling
  (``SlowDown``) with exponential backoff and jitter (``retry_mode`` "standard" or "adaptive",
  ``max_attempts`` tries). A body cut off while it is being read arrives after botocore is done with
  the request, so :meth:`S3Storage.load` retries that itself (:data:`BODY_ATTEMPTS`).
* **Object Lock**: after :meth:`S3Storage.enable_object_lock`, every object written, except the lock
  files under ``locks/`` (which must stay removable, or a repository could never be unlocked), carries
  a retention of that many days, and :meth:`S3Storage.remove` deletes every version of an object, or
  raises :class:`~resguardo.core.errors.ObjectRetained` while one is still retained.

boto3 is imported when the first request is made, so that commands on other storages do not pay for
importing it. The client is thread-safe and keeps a pool of ``pool_connections`` connections; the
storage pickles without it (worker processes make their own).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

from resguardo.backends._s3_errors import describe_error, error_code, missing_bucket
from resguardo.backends.base import StoredObject
from resguardo.backends.credentials import StorageCredentials
from resguardo.clock import SYSTEM_CLOCK
from resguardo.core.errors import ConfigurationError, ObjectNotFound, ObjectRetained, StorageError

Result = TypeVar("Result")

SCHEME = "s3://"
UNRETAINED_PREFIXES = ("locks/", "prune/")
"""Objects under these prefixes never get a retention: lock files, which must stay removable or a
repository could never be unlocked, and prune plans, which a prune removes when it has swept (a plan
protects no data: deleting one only makes sessions reuse packs that Object Lock keeps anyway)."""
OBJECT_LOCK_MODES = ("compliance", "governance")
MAXIMUM_SINGLE_PUT = 5 * 1024**3
"""S3 refuses a single PUT larger than 5 GiB."""
BODY_ATTEMPTS = 4
"""Tries to read a response body that the connection cut short."""
BODY_RETRY_DELAY = 0.5
"""Seconds before the first new try of a cut body; doubled for every later one."""


def parse_location(location: str) -> tuple[str, str]:
    """Split ``s3://BUCKET/PREFIX`` into the bucket and the prefix (without slashes at its ends).

    Raises:
        ConfigurationError: the location is not an ``s3://`` URL with a bucket name.
    """
    if not location.startswith(SCHEME):
        raise ConfigurationError(f"{location!r} is not an s3:// location", "use s3://BUCKET/PREFIX")
    bucket, _separator, prefix = location.removeprefix(SCHEME).partition("/")
    if not bucket or "@" in bucket or ":" in bucket:
        raise ConfigurationError(
            f"no valid bucket name in {location!r}",
            "use s3://BUCKET/PREFIX; give the endpoint with --s3-endpoint, credentials in the environment",
        )
    return bucket, prefix.strip("/")


class S3Storage:
    """Objects kept in an S3 bucket under a prefix.

    Args:
        bucket: the bucket (it must exist).
        prefix: the folder of the repository in the bucket ("" for the whole bucket).
        endpoint_url: the S3 server, e.g. ``http://127.0.0.1:9000``; None lets botocore look it up.
        region: the region; None lets botocore look it up (``AWS_REGION``, the profile, ...).
        profile: the AWS profile; None lets botocore look it up (``AWS_PROFILE``, then ``default``).
        path_style: address the bucket in the path (``http://host/bucket/key``) rather than in the host
            name, for servers that need it; None lets botocore choose.
        max_attempts: tries of each request before a transient failure is reported.
        retry_mode: botocore's ``standard`` or ``adaptive`` (which also slows down when throttled).
        pool_connections: connections kept open to the server (one per thread that uses the storage).
        connect_timeout: seconds to wait for a connection.
        read_timeout: seconds to wait for a response's next bytes.
        given: explicit S3 keys (in memory), used instead of botocore's chain when both are set.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        path_style: bool | None = None,
        max_attempts: int = 8,
        retry_mode: str = "standard",
        pool_connections: int = 16,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        given: StorageCredentials | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url or None
        self.region = region
        self.profile = profile
        self.path_style = path_style
        self.max_attempts = max_attempts
        self.retry_mode = retry_mode
        self.pool_connections = pool_connections
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.given = given if given is not None and given.has_s3_keys else None
        self.object_lock: tuple[str, int] | None = None
        """(mode, days) of the retention given to new objects, once enabled."""
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._bucket_checked = False

    # -- identity ---------------------------------------------------------------------------

    @property
    def location(self) -> str:
        """Return ``s3://BUCKET/PREFIX`` (the endpoint and credentials are not part of it)."""
        return f"{SCHEME}{self.bucket}/{self.prefix}" if self.prefix else f"{SCHEME}{self.bucket}"

    @property
    def is_local(self) -> bool:
        """Every read is a request over the network."""
        return False

    @property
    def shareable_between_processes(self) -> bool:
        """The storage pickles without its client; each worker process opens its own connections."""
        return True

    def __getstate__(self) -> dict[str, Any]:
        """Return the settings, without the client and its lock (re-created in the other process)."""
        state = dict(self.__dict__)
        del state["_client"], state["_client_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore the settings; the client is made at the first request."""
        self.__dict__.update(state)
        self._client = None
        self._client_lock = threading.Lock()

    def key(self, name: str) -> str:
        """Return the bucket key of the object ``name``.

        Raises:
            StorageError: the name is absolute or climbs out of the prefix.
        """
        if name.startswith("/") or ".." in name.split("/"):
            raise StorageError(f"invalid object name {name!r}")
        return f"{self.prefix}/{name}" if self.prefix else name

    # -- the client -------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """Return the boto3 S3 client, made (and boto3 imported) at the first call.

        Raises:
            ConfigurationError: the AWS profile does not exist.
            StorageError: the client cannot be made (for instance, a malformed endpoint).
        """
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        import boto3.session
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError

        config = Config(
            retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
            max_pool_connections=self.pool_connections,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            s3={"addressing_style": {True: "path", False: "virtual", None: "auto"}[self.path_style]},
            # Servers other than AWS do not all understand the newer checksum trailers; every PUT
            # carries a Content-MD5 instead, which every S3 server checks.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        try:
            keys = {}
            if self.given is not None:
                keys = {
                    "aws_access_key_id": self.given.s3_access_key_id,
                    "aws_secret_access_key": self.given.s3_secret_access_key,
                }
            session = boto3.session.Session(profile_name=self.profile, region_name=self.region, **keys)
            return session.client("s3", endpoint_url=self.endpoint_url, config=config)
        except (BotoCoreError, ValueError) as error:
            raise describe_error(error, "connect to", self.bucket, self.prefix) from None

    def _call(self, operation: str, name: str, request: Callable[[], Result]) -> Result:
        """Run ``request``, turning botocore's exceptions into Resguardo errors about ``name``."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return request()
        except (BotoCoreError, ClientError) as error:
            raise self._describe(error, operation, name) from None

    def _describe(self, error: Exception, operation: str, name: str) -> StorageError | ConfigurationError:
        described = describe_error(
            error,
            operation,
            self.bucket,
            self.key(name) if name else self.prefix,
            keys_origin=self.given.origin if self.given is not None else None,
        )
        assert isinstance(described, StorageError | ConfigurationError)
        return described

    # -- reading ----------------------------------------------------------------------------

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Read the object, or ``length`` bytes of it from ``offset`` (one ranged GET).

        Raises:
            ObjectNotFound: no object has that name.
            StorageError: the read failed for good (after the retries).
        """
        if length == 0:
            self.size(name)
            return b""
        arguments = {"Bucket": self.bucket, "Key": self.key(name)}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            arguments["Range"] = f"bytes={offset}-{end}"
        for attempt in range(1, BODY_ATTEMPTS + 1):
            try:
                return self._get(name, arguments)
            except _CutBody:
                if attempt == BODY_ATTEMPTS:
                    break
                time.sleep(BODY_RETRY_DELAY * 2 ** (attempt - 1))
        raise StorageError(
            f"cannot read {self.location}/{name}: the connection broke {BODY_ATTEMPTS} times while reading",
            "check the network and the S3 server, then run the command again",
        )

    def _get(self, name: str, arguments: dict[str, str]) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError
        from urllib3.exceptions import HTTPError

        try:
            response = self.client.get_object(**arguments)
        except ClientError as error:
            if error_code(error) == "InvalidRange":  # the range starts at or past the end
                return b""
            if error_code(error) in ("NoSuchKey", "404"):
                raise ObjectNotFound(f"object {name} not found in {self.location}") from None
            raise self._describe(error, "read", name) from None
        except BotoCoreError as error:
            raise self._describe(error, "read", name) from None
        body = response["Body"]
        try:
            data: bytes = body.read()
        except (BotoCoreError, HTTPError, OSError) as error:
            raise _CutBody() from error
        finally:
            body.close()
        return data

    def size(self, name: str) -> int:
        """Return the object's size in bytes (one HEAD request).

        Raises:
            ObjectNotFound: no object has that name.
            StorageError: the bucket does not exist, or the request failed.
        """
        return int(self._head(name)["ContentLength"])

    def _head(self, name: str, version_id: str | None = None) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        arguments = {"Bucket": self.bucket, "Key": self.key(name)}
        if version_id is not None:
            arguments["VersionId"] = version_id
        try:
            response: dict[str, Any] = self.client.head_object(**arguments)
            return response
        except ClientError as error:
            if error_code(error) in ("404", "NoSuchKey", "NotFound"):
                self._check_bucket()
                raise ObjectNotFound(f"object {name} not found in {self.location}") from None
            raise self._explain_head_error(error, arguments, name) from None
        except BotoCoreError as error:
            raise self._describe(error, "read", name) from None

    def _explain_head_error(self, error: Exception, arguments: dict[str, str], name: str) -> Exception:
        """Return the error a refused HEAD stands for, asking a one-byte GET for its code if need be.

        A HEAD answer has no body, so a 403 does not say whether the access key is unknown, the
        secret is wrong or the policy denies the read; a GET's answer does.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        if error_code(error) != "403":
            return self._describe(error, "read", name)
        try:
            self.client.get_object(**arguments, Range="bytes=0-0")
        except (ClientError, BotoCoreError) as detailed:
            return self._describe(detailed, "read", name)
        return self._describe(error, "read", name)

    def _check_bucket(self) -> None:
        """Raise the missing-bucket error when a HEAD's 404 was the bucket's (asked once per storage)."""
        if self._bucket_checked:
            return
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            if error_code(error) in ("404", "NoSuchBucket", "NotFound"):
                raise missing_bucket(self.bucket) from None
            return  # denied or otherwise unknown: the object's 404 stands
        self._bucket_checked = True

    def exists(self, name: str) -> bool:
        """Return True when an object has that name.

        Raises:
            StorageError: the bucket does not exist, or the request failed.
        """
        try:
            self._head(name)
        except ObjectNotFound:
            return False
        return True

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Yield every object whose name starts with ``prefix``, a page of 1000 per request.

        Raises:
            StorageError: the bucket does not exist, or the listing failed.
        """
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=base + prefix)
        iterator = iter(pages)
        while True:
            page = self._call("list", prefix, lambda: next(iterator, None))
            if page is None:
                return
            for item in page.get("Contents", ()):
                yield StoredObject(item["Key"].removeprefix(base), int(item["Size"]))

    # -- writing ----------------------------------------------------------------------------

    def save(self, name: str, data: bytes | memoryview) -> None:
        """Write the object with one PUT carrying its MD5 (and a retention when Object Lock is on).

        Raises:
            StorageError: the object is larger than one PUT may be, or the write failed for good.
        """
        body = bytes(data)
        if len(body) > MAXIMUM_SINGLE_PUT:
            raise StorageError(f"cannot write {name}: {len(body)} bytes is more than one S3 PUT may take")
        arguments: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.key(name),
            "Body": body,
            "ContentMD5": base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode(),
        }
        if self.object_lock is not None and not name.startswith(UNRETAINED_PREFIXES):
            mode, days = self.object_lock
            arguments["ObjectLockMode"] = mode.upper()
            arguments["ObjectLockRetainUntilDate"] = SYSTEM_CLOCK.now() + timedelta(days=days)
        self._call("write", name, lambda: self.client.put_object(**arguments))

    def remove(self, name: str) -> None:
        """Delete the object; a missing object is not an error.

        With Object Lock on, every version of the object is deleted (a plain delete would only hide it
        behind a delete marker and keep its bytes).

        Raises:
            ObjectRetained: Object Lock keeps a version of the object until a later date.
            StorageError: the deletion was refused (e.g. append-only credentials) or failed.
        """
        key = self.key(name)
        if self.object_lock is None:
            self._call("delete", name, lambda: self.client.delete_object(Bucket=self.bucket, Key=key))
            return
        from botocore.exceptions import ClientError

        for version_id in self._versions(name):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version_id)
            except ClientError as error:
                if error_code(error) in ("NoSuchVersion", "NoSuchKey", "404"):
                    continue
                until = self.retained_until(name, version_id=version_id)
                if until is not None:
                    raise ObjectRetained(
                        f"{name} is kept until {until:%Y-%m-%d %H:%M} UTC by Object Lock",
                        "it can be removed after that date",
                        retained_until=until,
                    ) from None
                raise self._describe(error, "delete", name) from None

    def _versions(self, name: str) -> tuple[str, ...]:
        """Return the IDs of every version and delete marker of the object."""
        key = self.key(name)
        paginator = self.client.get_paginator("list_object_versions")
        found: dict[str, None] = {}
        iterator = iter(paginator.paginate(Bucket=self.bucket, Prefix=key))
        while (page := self._call("list the versions of", name, lambda: next(iterator, None))) is not None:
            for item in [*page.get("Versions", ()), *page.get("DeleteMarkers", ())]:
                if item["Key"] == key:
                    found[str(item["VersionId"])] = None
        return tuple(found)

    # -- Object Lock ------------------------------------------------------------------------

    def enable_object_lock(self, mode: str, days: int, *, verify: bool = True) -> None:
        """Give every object written from now on (lock files excepted) a retention of ``days`` days.

        Args:
            mode: ``compliance`` (nobody can shorten it) or ``governance`` (privileged users can).
            days: the retention, counted from each object's writing.
            verify: first check that the bucket has Object Lock enabled and no default retention
                (which would lock the lock files too).

        Raises:
            ConfigurationError: the mode or the number of days is invalid, or the bucket cannot
                hold locked objects.
            StorageError: the bucket's configuration could not be read.
        """
        if mode not in OBJECT_LOCK_MODES:
            raise ConfigurationError(f"unknown Object Lock mode {mode!r}", "use compliance or governance")
        if days < 1:
            raise ConfigurationError(f"Object Lock retention of {days} days", "give at least 1 day")
        if verify:
            self._verify_object_lock()
        self.object_lock = (mode, days)

    def _verify_object_lock(self) -> None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as error:
            if error_code(error) in ("ObjectLockConfigurationNotFoundError", "InvalidRequest"):
                raise ConfigurationError(
                    f"the bucket {self.bucket!r} does not have Object Lock enabled",
                    "create a bucket with Object Lock enabled (e.g. 'aws s3api create-bucket "
                    f"--bucket {self.bucket} --object-lock-enabled-for-bucket'), or init without "
                    "--object-lock-days",
                ) from None
            raise self._describe(error, "read the Object Lock configuration of", "") from None
        except Exception as error:
            raise self._describe(error, "read the Object Lock configuration of", "") from None
        configuration = response.get("ObjectLockConfiguration", {})
        if configuration.get("ObjectLockEnabled") != "Enabled":
            raise ConfigurationError(f"the bucket {self.bucket!r} does not have Object Lock enabled")
        if configuration.get("Rule", {}).get("DefaultRetention"):
            raise ConfigurationError(
                f"the bucket {self.bucket!r} has a default Object Lock retention, which would lock the "
                "repository's lock files too",
                "remove the bucket's default retention rule: resguardo sets the retention of each object",
            )

    def retained_until(self, name: str, *, version_id: str | None = None) -> datetime | None:
        """Return until when Object Lock keeps the object (None if it is not retained, or missing).

        Raises:
            StorageError: the request failed.
        """
        try:
            head = self._head(name, version_id)
        except ObjectNotFound:
            return None
        until = head.get("ObjectLockRetainUntilDate")
        if isinstance(until, datetime) and until > SYSTEM_CLOCK.now():
            return until
        return None

    def close(self) -> None:
        """Close the client's connections (a later request opens new ones)."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


class _CutBody(Exception):
    """The connection broke while a response body was being read."""
