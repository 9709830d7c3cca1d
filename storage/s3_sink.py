"""The S3 sink (OUTPUT_STORE=s3://bucket/prefix): `<prefix>/<job id>/<file name>`, presigned URLs.

Publish-once. Each name is first claimed: a conditional put (`If-None-Match: *`) of a small
object `<prefix>/.publish/<job id>/<file name>` holding the SHA-256 and size of the bytes to
publish. Only one claim can be made; a publish that finds the claim carries on only when the
claim names its own bytes (a retry, a duplicated job), so bytes of another content never reach
the name. Then the file goes up (one put, or a multipart upload by boto3's transfer manager for
large files: the object appears whole when the upload completes, never half-written), with its
content type and its SHA-256 as metadata, and is confirmed (HEAD: size and SHA-256) before
publish returns; the caller deletes nothing local before that.

The claim is needed because a conditional put is not enough on every store: Ceph 16's radosgw
honours `If-None-Match: *` on PutObject but ignores it on CompleteMultipartUpload and on
CopyObject (tests/test_storage_s3.py shows both). What is left: a claim is never taken over, so
a job whose publish died after claiming and whose retry renders different bytes fails with
PublishConflict (delete the job's outputs with `delete` to publish again); and a writer that
puts to the key without claiming (not this code) can still replace the object.

A store that is down or refuses is retried with the shared backoff, then StoreUnavailable
(a TransientError: the worker retries the job).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO, Any, Callable

from jobmodel.backoff import Backoff
from storage.address import StoreAddress, check_segment, parse_store_url
from storage.errors import PublishConflict
from storage.s3_client import (DEFAULT_ATTEMPTS, DEFAULT_BACKOFF, is_missing,
                               is_precondition_failed, make_client, with_retries)
from storage.sinks import Published, content_type as type_of, file_sha256, output_sink

MB = 1 << 20
CLAIMS = ".publish"


class NotConfirmed(ConnectionError):
    """The object is not (yet) what was uploaded: tried again like a failed call."""


class S3Sink:
    kind = "s3"

    def __init__(self, address: StoreAddress, url_ttl: int, client: Any = None, *,
                 attempts: int = DEFAULT_ATTEMPTS, backoff: Backoff = DEFAULT_BACKOFF,
                 sleep: Callable[[float], None] = time.sleep, multipart_threshold: int = 16 * MB,
                 part_size: int = 8 * MB, on_bytes: Callable[[int], None] | None = None):
        self.address = address
        self.url_ttl = int(url_ttl)
        self._client = client
        self.attempts, self.backoff, self.sleep = attempts, backoff, sleep
        self.multipart_threshold, self.part_size = multipart_threshold, part_size
        self.on_bytes = on_bytes   # called with each block of bytes sent (progress)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client()
        return self._client

    # -- names ------------------------------------------------------------
    def key(self, job_id: str, name: str) -> str:
        return self.address.key(check_segment(job_id, "job id"), check_segment(name))

    def _claim_key(self, job_id: str, name: str) -> str:
        parts = [self.address.prefix] if self.address.prefix else []
        return "/".join(parts + [CLAIMS, check_segment(job_id, "job id"), check_segment(name)])

    def location(self, job_id: str, name: str) -> str:
        return self.address.url(self.key(job_id, name))

    def url(self, job_id: str, name: str) -> str:
        """A presigned GET, valid URL_TTL seconds (Range requests work on it)."""
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.address.bucket, "Key": self.key(job_id, name)},
            ExpiresIn=self.url_ttl)

    def _retried(self, what: str, op: Callable[[], Any]) -> Any:
        return with_retries(what, op, store=str(self.address), attempts=self.attempts,
                            backoff=self.backoff, sleep=self.sleep)

    # -- publishing -------------------------------------------------------
    def publish(self, job_id: str, name: str, source: Path, *, content_type: str | None = None,
                replace: bool = False) -> Published:
        key = self.key(job_id, name)
        digest, size = file_sha256(Path(source))
        ctype = content_type or type_of(name)

        def attempt() -> Published:
            if not replace:
                found = self._head(key)
                if found is not None:
                    return self._already(key, name, found, digest, size)
                self._claim(job_id, name, digest, size)
            self._upload(Path(source), key, ctype, digest, size)
            return self._confirm(key, name, digest, size)

        return self._retried(f"publishing {name}", attempt)

    def _head(self, key: str) -> tuple[int, str] | None:
        """(size, sha256 metadata) of the object at key, or None when there is none."""
        from botocore.exceptions import ClientError
        try:
            head = self.client.head_object(Bucket=self.address.bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        return int(head["ContentLength"]), head.get("Metadata", {}).get("sha256", "")

    def _already(self, key: str, name: str, found: tuple[int, str], digest: str, size: int) -> Published:
        if found != (size, digest):
            raise PublishConflict(f"{self.address.url(key)} already holds a different file "
                                  f"({found[0]} bytes, sha256 {found[1] or 'unknown'}); it is not replaced")
        return Published(name, self.address.url(key), size, digest, new=False)

    def _claim(self, job_id: str, name: str, digest: str, size: int) -> None:
        """Claim the name for these bytes (If-None-Match: *), or find our own earlier claim."""
        from botocore.exceptions import ClientError
        claim_key = self._claim_key(job_id, name)
        body = json.dumps({"sha256": digest, "size": size, "claimed_at": time.time()}).encode()
        try:
            self.client.put_object(Bucket=self.address.bucket, Key=claim_key, Body=body,
                                   ContentType="application/json", IfNoneMatch="*")
            return
        except ClientError as exc:
            if not is_precondition_failed(exc):
                raise
        answer = self.client.get_object(Bucket=self.address.bucket, Key=claim_key)
        try:
            claimed = json.loads(answer["Body"].read())
        except ValueError:
            claimed = {}
        if claimed.get("sha256") != digest or claimed.get("size") != size:
            raise PublishConflict(
                f"{self.location(job_id, name)} is claimed by a publish of different bytes "
                f"(sha256 {claimed.get('sha256', 'unreadable')}); it is not replaced")

    def _upload(self, source: Path, key: str, ctype: str, digest: str, size: int) -> None:
        from boto3.s3.transfer import TransferConfig
        config = TransferConfig(multipart_threshold=self.multipart_threshold,
                                multipart_chunksize=self.part_size, max_concurrency=4)
        self.client.upload_file(str(source), self.address.bucket, key, Config=config,
                                ExtraArgs={"ContentType": ctype, "Metadata": {"sha256": digest}},
                                Callback=self.on_bytes)

    def _confirm(self, key: str, name: str, digest: str, size: int) -> Published:
        found = self._head(key)
        if found is None:
            raise NotConfirmed(f"{self.address.url(key)} is not there after its upload")
        if found != (size, digest):
            raise PublishConflict(f"{self.address.url(key)} holds other bytes than were uploaded "
                                  "(written by something else meanwhile)")
        return Published(name, self.address.url(key), size, digest, new=True)

    # -- reading and deleting ---------------------------------------------
    def open(self, job_id: str, name: str) -> IO[bytes]:
        """The object's bytes as a stream (read it, then close it); FileNotFoundError when there is none."""
        from botocore.exceptions import ClientError
        key = self.key(job_id, name)

        def get() -> Any:
            try:
                return self.client.get_object(Bucket=self.address.bucket, Key=key)
            except ClientError as exc:
                if is_missing(exc):   # an answer, not a failure: never tried again
                    raise FileNotFoundError(f"{self.address.url(key)} does not exist") from None
                raise

        return self._retried(f"reading {name}", get)["Body"]

    def delete(self, job_id: str, name: str) -> bool:
        """Delete the object and its claim; True when the object was there."""
        key, claim_key = self.key(job_id, name), self._claim_key(job_id, name)

        def op() -> bool:
            existed = self._head(key) is not None
            self.client.delete_object(Bucket=self.address.bucket, Key=key)
            self.client.delete_object(Bucket=self.address.bucket, Key=claim_key)
            return existed

        return self._retried(f"deleting {name}", op)


# how a failing store is tried again (read when a sink is made, so a test may shorten the wait)
PUBLISH_ATTEMPTS, PUBLISH_BACKOFF = DEFAULT_ATTEMPTS, DEFAULT_BACKOFF


@output_sink("s3")
def s3_sink(settings) -> S3Sink:
    return S3Sink(parse_store_url(settings.OUTPUT_STORE), settings.URL_TTL, attempts=PUBLISH_ATTEMPTS,
                  backoff=PUBLISH_BACKOFF)
