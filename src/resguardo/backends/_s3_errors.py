"""How the S3 backend turns botocore's exceptions into errors a person can act on.

Messages name the operation, the bucket and the object, never a credential. Transient failures
(connection drops, timeouts, 5xx, throttling) are retried by botocore before they get here; what
reaches :func:`describe_error` failed for good, or failed in a way that retrying cannot fix.
"""

from __future__ import annotations

from resguardo.core.errors import ConfigurationError, ObjectNotFound, ResguardoError, StorageError

CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE naming a profile of "
    "~/.aws/credentials or ~/.aws/config"
)
APPEND_ONLY_HINT = (
    "these credentials may not delete this object (append-only credentials may delete only under "
    "locks/); run the command with credentials that may delete, or leave it to whoever holds them"
)
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
MISSING_BUCKET_CODES = frozenset({"NoSuchBucket"})
DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden", "AllAccessDisabled"})
UNKNOWN_KEY_CODES = frozenset({"InvalidAccessKeyId", "InvalidClientTokenId", "UnrecognizedClientException"})
BAD_SECRET_CODES = frozenset({"SignatureDoesNotMatch", "InvalidSignature"})
EXPIRED_CODES = frozenset({"ExpiredToken", "TokenRefreshRequired", "RequestExpired", "ExpiredTokenException"})
TRANSIENT_CODES = frozenset(
    {
        "500",
        "502",
        "503",
        "504",
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "BadDigest",
    }
)


def error_code(error: BaseException) -> str:
    """Return the S3 error code of a botocore ``ClientError`` (``""`` for any other exception)."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def missing_bucket(bucket: str) -> StorageError:
    """Return the error for a bucket that does not exist."""
    return StorageError(
        f"the S3 bucket {bucket!r} does not exist",
        f"create it first, e.g. 'aws s3 mb s3://{bucket}' (add --endpoint-url for another S3 server), "
        "or check the bucket name and the endpoint",
    )


def describe_error(
    error: Exception, operation: str, bucket: str, key: str, *, keys_origin: str | None = None
) -> ResguardoError:
    """Return the Resguardo error for a botocore exception raised while doing ``operation`` on ``key``.

    Args:
        error: what botocore raised.
        operation: a verb such as ``read``, ``write``, ``list``, ``delete``.
        bucket: the bucket.
        key: the full object key (or prefix) in the bucket.
        keys_origin: where explicit keys came from (e.g. "sealed in the catalog for repository 'x'"),
            named in the hints of refused keys; None when botocore's chain found them.

    Returns:
        an :class:`ObjectNotFound` for a missing object; a :class:`ConfigurationError` for a profile
        that does not exist; a :class:`StorageError` with a hint for everything else.
    """
    from botocore import exceptions

    where = f"s3://{bucket}/{key}"
    if isinstance(error, exceptions.ClientError):
        return _describe_client_error(error, operation, bucket, key, keys_origin)
    if isinstance(error, exceptions.ProfileNotFound):
        return ConfigurationError(
            f"the AWS profile {error.kwargs.get('profile', '')!r} does not exist",
            "define it in ~/.aws/config or ~/.aws/credentials, or set AWS_PROFILE to another profile",
        )
    if isinstance(error, exceptions.NoCredentialsError | exceptions.PartialCredentialsError):
        return StorageError(f"no usable S3 credentials found to {operation} {where}", CREDENTIALS_HINT)
    if isinstance(error, exceptions.EndpointConnectionError | exceptions.ConnectTimeoutError):
        return StorageError(
            f"cannot reach the S3 endpoint {error.kwargs.get('endpoint_url', '')} to {operation} {where}",
            "check the endpoint (--s3-endpoint, RESGUARDO_S3_ENDPOINT or AWS_ENDPOINT_URL) and the network",
        )
    return StorageError(f"cannot {operation} {where}: {error}", "check the endpoint and the network")


def _credential_errors(
    operation: str, where: str, keys_origin: str | None
) -> dict[frozenset[str], tuple[str, str]]:
    """Return (message, hint) for each group of error codes that blame the credentials."""
    given = f"the S3 keys {keys_origin}" if keys_origin else ""
    return {
        UNKNOWN_KEY_CODES: (
            f"the S3 server does not know the access key used to {operation} {where}",
            f"check {given}" if given else "check AWS_ACCESS_KEY_ID or the profile's aws_access_key_id",
        ),
        BAD_SECRET_CODES: (
            f"the S3 server refused the signature of the request to {operation} {where}: "
            "the secret key does not match the access key",
            f"check {given}"
            if given
            else "check AWS_SECRET_ACCESS_KEY or the profile's aws_secret_access_key",
        ),
        EXPIRED_CODES: (
            f"the S3 credentials used to {operation} {where} have expired",
            "renew the session credentials (AWS_SESSION_TOKEN or the profile), then run again",
        ),
        DENIED_CODES: (
            f"access denied: cannot {operation} {where}",
            APPEND_ONLY_HINT
            if operation == "delete"
            else "check the bucket policy and the permissions of the credentials",
        ),
    }


def _describe_client_error(
    error: Exception, operation: str, bucket: str, key: str, keys_origin: str | None
) -> ResguardoError:
    code = error_code(error)
    if code in MISSING_BUCKET_CODES:
        return missing_bucket(bucket)
    if code in NOT_FOUND_CODES:
        return ObjectNotFound(f"object {key} not found in s3://{bucket}")
    where = f"s3://{bucket}/{key}"
    for codes, (message, hint) in _credential_errors(operation, where, keys_origin).items():
        if code in codes:
            return StorageError(message, hint)
    detail = _message_of(error)
    return StorageError(f"cannot {operation} {where}: {code or 'error'}{': ' + detail if detail else ''}")


def _message_of(error: Exception) -> str:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Message", "") or "")
