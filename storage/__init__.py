"""Storage: output sinks (the local folder, S3) and the shared cache level on S3.

    sink = open_sink(settings)                     # OUTPUT_STORE: "" = OUTPUT_DIR, s3://... = S3
    done = publish_outputs(sink, job_id, files)    # publish-once, confirmed, {name: Published}
    sink.url(job_id, name)                         # presigned GET (URL_TTL) or under API_PUBLIC_URL
    check_store(settings)                          # at start: StoreUnusable naming the setting

Importing this package registers the sinks (`@output_sink`) and the S3 cache level
(`@shared_level("s3")`, used by cache.open_cache when CACHE_STORE is set). boto3 is imported
only when a store is used. The layer sits above generators (it uses their plug-in registrar)
and the cache (it adds a level), below the runtime and the pipeline (docs/ARCHITECTURE.md).
"""
from __future__ import annotations

from storage.check import check_store
from storage.errors import PublishConflict, StoreUnavailable, StoreUnusable
from storage.sinks import OUTPUT_SINKS, OutputSink, Published, open_sink, output_sink, publish_outputs


def load_plugins() -> None:
    """Register every sink and the S3 cache level (idempotent: modules register on first import)."""
    from storage import cache_level, local, s3_sink  # noqa: F401


load_plugins()

__all__ = ["OUTPUT_SINKS", "OutputSink", "Published", "PublishConflict", "StoreUnavailable",
           "StoreUnusable", "check_store", "load_plugins", "open_sink", "output_sink", "publish_outputs"]
