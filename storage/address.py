"""Names in a store: `s3://bucket/prefix` addresses, job ids and file names, object keys.

    address = parse_store_url("s3://videos/prod")   # StoreAddress(bucket="videos", prefix="prod")
    address.key("job-1", "job-1.mp4")               # "prod/job-1/job-1.mp4"

A file name and a job id are one path segment each (no "/", "\\", NUL or control characters,
not "." or "..", no leading dot), so an object key or a local path made from them never
leaves its prefix or folder.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")   # S3's rule for new buckets
MAX_SEGMENT = 255


@dataclass(frozen=True)
class StoreAddress:
    bucket: str
    prefix: str = ""   # no leading or trailing "/"

    def key(self, *segments: str) -> str:
        """The object key `<prefix>/<segment>/...` (each segment checked)."""
        parts = [check_segment(s, "name") for s in segments]
        return "/".join([self.prefix, *parts] if self.prefix else parts)

    def url(self, key: str = "") -> str:
        """`s3://bucket/key` (the address itself without a key)."""
        return f"s3://{self.bucket}/{key or self.prefix}".rstrip("/")

    def __str__(self) -> str:
        return self.url()


def parse_store_url(text: str) -> StoreAddress:
    """`s3://bucket` or `s3://bucket/prefix/...`; ValueError naming what is wrong."""
    value = text.strip()
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() != "s3":
        raise ValueError(f"expected s3://bucket/prefix, got {value[:80]!r}")
    if any(ch in rest for ch in "?#") or any(ord(ch) < 33 for ch in rest):
        raise ValueError("an s3:// address has no query, fragment, spaces or control characters")
    bucket, _, prefix = rest.partition("/")
    if not BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"bucket {bucket!r} is not a valid S3 bucket name "
                         "(3-63 lower-case letters, digits, dots and hyphens)")
    prefix = prefix.strip("/")
    for segment in prefix.split("/") if prefix else ():
        check_segment(segment, "prefix")
    return StoreAddress(bucket, prefix)


def check_segment(text: str, what: str = "name") -> str:
    """One path segment (a job id, a file name, a prefix part), or ValueError."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"{what} must not be empty")
    if len(text) > MAX_SEGMENT:
        raise ValueError(f"{what} is {len(text)} characters long; the limit is {MAX_SEGMENT}")
    if "/" in text or "\\" in text or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError(f"{what} {text[:60]!r} must be one path segment without control characters")
    if text.startswith("."):
        raise ValueError(f"{what} {text[:60]!r} must not start with a dot")
    return text
