"""An S3 client from the AWS SDK's own settings, and the retry rule for calls to a store.

Credentials, endpoint and region come from where every AWS tool reads them: AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), ~/.aws/credentials or an instance role;
AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) for a store that is not AWS; AWS_REGION (or
AWS_DEFAULT_REGION). With an endpoint the client uses path-style addressing
(`http://10.0.0.5:7480/bucket/key`, which works with an IP address) and sends no optional
checksum headers, which older S3-compatible stores (Ceph 16's radosgw) refuse. Nothing here
logs a credential: messages name the setting, the bucket and the endpoint only.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, TypeVar

from jobmodel.backoff import Backoff
from storage.errors import StoreUnavailable

log = logging.getLogger("protovideo.storage")
T = TypeVar("T")

DEFAULT_BACKOFF = Backoff(base=1.0, cap=30.0)
DEFAULT_ATTEMPTS = 6          # about a minute of waiting at most, then StoreUnavailable


def endpoint_setting() -> str:
    """The endpoint the environment names ('' = AWS itself)."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""


def sdk_attempts() -> int:
    """botocore's own tries of one call: AWS_MAX_ATTEMPTS (the SDK's setting, 1-10), else 3."""
    try:
        return min(10, max(1, int(os.environ.get("AWS_MAX_ATTEMPTS") or 3)))
    except ValueError:
        return 3


def make_client(*, connect_timeout: float = 5.0, read_timeout: float = 60.0,
                max_connections: int = 16) -> Any:
    """A boto3 S3 client configured from the environment (see the module's text)."""
    import boto3
    from botocore.config import Config

    endpoint = endpoint_setting()
    region = (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
              or ("us-east-1" if endpoint else None))
    config = Config(signature_version="s3v4", connect_timeout=connect_timeout,
                    read_timeout=read_timeout, max_pool_connections=max_connections,
                    retries={"mode": "standard", "max_attempts": sdk_attempts()},
                    s3={"addressing_style": "path" if endpoint else "auto"},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required")
    return boto3.session.Session().client("s3", region_name=region, endpoint_url=endpoint or None,
                                          config=config)


def error_code(exc: BaseException) -> str:
    """The S3 error code of a ClientError ('NoSuchKey', 'PreconditionFailed', '403', ...)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def http_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def is_missing(exc: BaseException) -> bool:
    return http_status(exc) == 404 or error_code(exc) in ("404", "NoSuchKey", "NotFound")


def is_precondition_failed(exc: BaseException) -> bool:
    return http_status(exc) == 412 or error_code(exc) == "PreconditionFailed"


def describe(exc: BaseException) -> str:
    """A short text for a failed call: the S3 error code and status, or the exception's text."""
    code, status = error_code(exc), http_status(exc)
    if code or status:
        return f"{code or 'error'} (HTTP {status})" if status else code
    return f"{type(exc).__name__}: {exc}"


def store_errors() -> tuple[type[BaseException], ...]:
    """What a call to the store raises when the store is down, slow or refusing."""
    from boto3.exceptions import S3TransferFailedError, S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError
    return (BotoCoreError, ClientError, S3UploadFailedError, S3TransferFailedError, ConnectionError,
            TimeoutError)


def with_retries(what: str, op: Callable[[], T], *, store: str, attempts: int = DEFAULT_ATTEMPTS,
                 backoff: Backoff = DEFAULT_BACKOFF, sleep: Callable[[float], None] = time.sleep) -> T:
    """op(), tried again with the shared backoff while the store fails; then StoreUnavailable.

    op handles the answers that are not failures itself (a missing key, a failed precondition)."""
    errors = store_errors()
    last: BaseException | None = None
    for attempt in range(1, attempts + 1):
        try:
            return op()
        except errors as exc:
            last = exc
            if attempt == attempts:
                break
            wait = backoff.delay(attempt)
            log.warning("storage: %s at %s failed (%s); trying again in %.1fs (attempt %d of %d)",
                        what, store, describe(exc), wait, attempt, attempts)
            sleep(wait)
    raise StoreUnavailable(f"{what} at {store} failed {attempts} times; last: {describe(last)}")
