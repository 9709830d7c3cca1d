"""The start check of OUTPUT_STORE and CACHE_STORE: a store that cannot work stops the worker.

    check_store(settings)    # StoreUnusable naming the setting to fix, or None when all is well

For each store set it writes a probe object under the prefix twice with `If-None-Match: *`
(the second put must be refused: publish-once depends on it), reads it and deletes it. So an
unreachable endpoint, a missing bucket, refused credentials, a user who may not write, and a
store that ignores conditional puts are all found before any job is taken. Messages name the
setting and the bucket; they never hold a secret (only the names of the credential settings).
"""
from __future__ import annotations

import uuid
from typing import Any, Callable

from storage.address import StoreAddress, parse_store_url
from storage.errors import StoreUnusable
from storage.s3_client import describe, endpoint_setting, error_code, http_status, is_precondition_failed, make_client

STORES = ("OUTPUT_STORE", "CACHE_STORE")
CREDENTIALS = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"


def check_store(settings: Any, client_factory: Callable[[], Any] = make_client) -> None:
    used = [(name, parse_store_url(getattr(settings, name))) for name in STORES
            if getattr(settings, name, "")]
    if not used:
        return
    if len(used) == 2 and _overlap(used[0][1], used[1][1]):
        raise StoreUnusable("CACHE_STORE", f"{used[1][1]} overlaps OUTPUT_STORE {used[0][1]}; "
                            "give the cache its own prefix (e.g. s3://bucket/cache)")
    client = client_factory()
    for name, address in used:
        _probe(client, name, address)


def _overlap(a: StoreAddress, b: StoreAddress) -> bool:
    if a.bucket != b.bucket:
        return False
    pa, pb = a.prefix + "/", b.prefix + "/"
    return pa.startswith(pb) or pb.startswith(pa)


def _probe(client: Any, name: str, address: StoreAddress) -> None:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    key = "/".join(([address.prefix] if address.prefix else []) + [".check", uuid.uuid4().hex])
    where = f"{name}={address}"
    try:
        client.put_object(Bucket=address.bucket, Key=key, Body=b"protovideo start check", IfNoneMatch="*")
        try:
            client.put_object(Bucket=address.bucket, Key=key, Body=b"again", IfNoneMatch="*")
        except ClientError as exc:
            if not is_precondition_failed(exc):
                raise
        else:
            raise StoreUnusable(name, f"the store at {_endpoint(client)} ignores If-None-Match: * on PUT, "
                                "so a finished output could be replaced; use a store that honours it")
        if client.get_object(Bucket=address.bucket, Key=key)["Body"].read() != b"protovideo start check":
            raise StoreUnusable(name, f"the store at {_endpoint(client)} replaced an object a "
                                "conditional put should have kept")
        client.delete_object(Bucket=address.bucket, Key=key)
    except ClientError as exc:
        raise _refused(exc, client, name, where, address) from None
    except NoCredentialsError:
        raise StoreUnusable("AWS_ACCESS_KEY_ID", f"{name} is set but no AWS credentials were found "
                            f"(set {CREDENTIALS}, or ~/.aws/credentials)") from None
    except BotoCoreError as exc:
        setting = "AWS_ENDPOINT_URL_S3" if endpoint_setting() else name
        raise StoreUnusable(setting, f"cannot reach the store at {_endpoint(client)} for {where} "
                            f"({describe(exc)})") from None


def _refused(exc: BaseException, client: Any, name: str, where: str, address: StoreAddress) -> StoreUnusable:
    code, status = error_code(exc), http_status(exc)
    at = f"the store at {_endpoint(client)}"
    if code == "SignatureDoesNotMatch":
        return StoreUnusable("AWS_SECRET_ACCESS_KEY", f"{at} refused the request signature for {where}: "
                             "AWS_SECRET_ACCESS_KEY does not belong to AWS_ACCESS_KEY_ID")
    if code in ("InvalidAccessKeyId", "InvalidClientTokenId"):
        return StoreUnusable("AWS_ACCESS_KEY_ID", f"{at} does not know AWS_ACCESS_KEY_ID ({where})")
    if code in ("ExpiredToken", "InvalidToken"):
        return StoreUnusable("AWS_SESSION_TOKEN", f"{at} refused the session token for {where} ({code})")
    if code == "NoSuchBucket" or status == 404:
        return StoreUnusable(name, f"bucket {address.bucket!r} does not exist at {_endpoint(client)}")
    if code == "AccessDenied" or status == 403:
        return StoreUnusable(name, f"{at} denies writing under {address} to the user of "
                             f"AWS_ACCESS_KEY_ID ({describe(exc)})")
    return StoreUnusable(name, f"{at} refused the start check of {where} ({describe(exc)})")


def _endpoint(client: Any) -> str:
    return str(getattr(client.meta, "endpoint_url", "") or "AWS S3")
