"""Turn a repository location given by a person into a Storage."""

from __future__ import annotations

import os

from resguardo.backends.base import Storage
from resguardo.backends.local import LocalStorage
from resguardo.core.errors import ConfigurationError

S3_ENDPOINT_ENV = "RESGUARDO_S3_ENDPOINT"
S3_PATH_STYLE_ENV = "RESGUARDO_S3_PATH_STYLE"


def open_storage(
    location: str, *, s3_endpoint: str | None = None, s3_path_style: bool | None = None
) -> Storage:
    """Return the Storage for ``location``: a directory path, ``local:PATH`` or ``s3://BUCKET/PREFIX``.

    Args:
        location: where the repository is.
        s3_endpoint: the S3 server for ``s3://`` locations; None: ``RESGUARDO_S3_ENDPOINT``, else
            botocore's own lookup (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, the profile), else AWS.
        s3_path_style: address buckets in the URL's path; None: ``RESGUARDO_S3_PATH_STYLE``, else
            botocore chooses.

    Raises:
        ConfigurationError: the location is empty or names a scheme this version does not support.
    """
    if not location:
        raise ConfigurationError("no repository given", "pass --repo PATH or set RESGUARDO_REPOSITORY")
    if location.startswith("local:"):
        return LocalStorage(location.removeprefix("local:"))
    scheme, separator, _rest = location.partition("://")
    if separator and scheme == "s3":
        return _open_s3(location, s3_endpoint, s3_path_style)
    if separator:
        raise ConfigurationError(
            f"repository scheme {scheme!r} is not supported in {location!r}",
            "use a local directory path or s3://BUCKET/PREFIX",
        )
    return LocalStorage(location)


def _open_s3(location: str, endpoint: str | None, path_style: bool | None) -> Storage:
    from resguardo.backends.s3 import S3Storage, parse_location

    bucket, prefix = parse_location(location)
    if path_style is None and os.environ.get(S3_PATH_STYLE_ENV):
        path_style = os.environ[S3_PATH_STYLE_ENV].strip().lower() not in ("0", "false", "no")
    return S3Storage(
        bucket,
        prefix,
        endpoint_url=endpoint or os.environ.get(S3_ENDPOINT_ENV) or None,
        path_style=path_style,
    )
