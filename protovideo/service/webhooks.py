"""Webhooks: a job's final record POSTed to its callback_url (or WEBHOOK_URL), signed, retried.

    job_ended(settings, record, job)    queue the delivery of a final record (finished,
                                        failed or cancelled); the worker's middleware and
                                        the cancel path of queued jobs call it
    check_callback_url(url, settings)   the address policy at submit (JobInvalid naming callback_url)
    sign(secret, timestamp, body)       "sha256=<hex HMAC-SHA256 of '<timestamp>.<body>'>"
    start_delivery(settings) / stop_delivery()   the background thread that delivers
                                        (in the worker and in `serve`; one per process)

Each try sends `Content-Type: application/json`, `X-ProtoVideo-Event: job.finished|
job.failed|job.cancelled`, `X-ProtoVideo-Timestamp: <unix s>`, `X-ProtoVideo-Delivery: <id>`
(the same on every try, for receivers that deduplicate) and, when WEBHOOK_SECRET is set,
`X-ProtoVideo-Signature: sha256=...`. A 2xx answer ends the delivery; anything else
(another status, a timeout, a refused connection) is tried again after
WEBHOOK_RETRY_BACKOFF seconds, doubling (with jitter, at most an hour) until
WEBHOOK_MAX_AGE hours have passed. Pending deliveries live in the outbox
(protovideo.service.webhook_outbox), so a restart loses none. The URL passes the
address policy of asset downloads (generators.fetch) at submit and again at every
try, through the same guarded connection (DNS may change). Logs show a URL's scheme
and host only (webhook paths often hold tokens); the secret is never logged.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import requests

from generators.netpolicy import RefusedAddress, http_session, resolve_checked
from jobmodel.backoff import Backoff
from jobmodel.errors import JobInvalid
from jobmodel.fields import http_url
from protovideo.service.webhook_outbox import new_delivery, open_outbox

log = logging.getLogger("protovideo.webhooks")

EVENTS = {"done": "job.finished", "finished": "job.finished", "failed": "job.failed",
          "cancelled": "job.cancelled"}
MAX_BACKOFF_S = 3600.0
FLUSH_S = 5.0              # at shutdown: time left to deliver what is due now
CALLBACK_KEYS = ("callback_url", "callbackUrl", "webhook_url")   # as jobmodel.spec accepts
_warned_unsigned = False


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body,
                      hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def shown(url: str) -> str:
    """A URL as logs may show it: scheme and host, never its path, query or credentials."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}/..."
    except ValueError:
        return "<unparsable URL>"


def backoff(attempts: int, base: float) -> float:
    """Seconds before the next try after `attempts` failed ones (the project's one backoff
    rule): base doubled per attempt, at most an hour, the top quarter drawn at random."""
    return Backoff(base=base, cap=MAX_BACKOFF_S, jitter=0.25).delay(attempts)


def address_refusal(url: str, allow_private: bool) -> str | None:
    """Why this URL's host must not be reached (the policy of asset downloads), or None.
    A host that does not resolve now is not refused here; the delivery tries again."""
    if allow_private:
        return None
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        resolve_checked(parts.hostname or "", port, allow_private=False)
    except RefusedAddress as exc:
        return str(exc)
    except (socket.gaierror, OSError):
        return None
    return None


def check_callback_url(url: Any, settings, field: str = "callback_url") -> str:
    """The submit-time check of a job's callback_url: JobInvalid naming `field` when the URL
    is malformed or its host is refused by the address policy (ALLOW_PRIVATE_URLS)."""
    text = http_url()(url, field)
    problem = address_refusal(text, bool(settings.ALLOW_PRIVATE_URLS))
    if problem:
        raise JobInvalid(field, f"refused: {problem}")
    return text


def check_job_callback(data: Any, settings) -> None:
    """check_callback_url for a decoded job, whichever of the accepted names it uses."""
    if isinstance(data, dict):
        for key in CALLBACK_KEYS:
            if data.get(key) is not None:
                check_callback_url(data[key], settings, field=key)


def with_callback_problem(data: Any, settings, problems: list[dict]) -> list[dict]:
    """`problems` (validate_job's list) plus the address-policy problem of the job's
    callback_url, when its syntax passed and its host is refused."""
    if not isinstance(data, dict) or any(p.get("field") in CALLBACK_KEYS for p in problems):
        return problems
    try:
        check_job_callback(data, settings)
    except JobInvalid as exc:
        return [*problems, {"field": exc.field, "message": exc.message}]
    return problems


def final_listener(settings) -> Callable[[str, dict], None]:
    """A job source's final-state listener (JobSource.add_final_listener) that queues the
    webhook of every job the source ends in this process: a queued job cancelled through
    the API or `cancel` (the cancel record carries the job, and with it its callback_url)."""
    def on_final(event: str, record: dict) -> None:
        job_ended(settings, record, record.get("job"))
    return on_final


def target_url(job: Any, settings) -> str:
    """The job's callback_url (a Job or its JSON), else WEBHOOK_URL; '' when neither."""
    url = getattr(job, "callback_url", "") or ""
    if not url and isinstance(job, dict):
        url = next((job[k] for k in CALLBACK_KEYS if isinstance(job.get(k), str) and job[k]), "")
    return url or settings.WEBHOOK_URL or ""


def job_ended(settings, record: dict, job: Any = None, outbox=None) -> str | None:
    """Queue the delivery of a job's final record; the delivery id, or None without a URL.

    `job` is the Job or its JSON (for callback_url); the failure record's own `job`
    is used when it is missing. Never raises: a job's outcome is already recorded and
    must not be undone by a webhook problem."""
    _batch_ended(settings, record, outbox)   # the last job of a batch: its batch.ended webhook too
    try:
        event = EVENTS.get(str(record.get("status") or record.get("state")))
        if event is None:
            log.error("webhook: job %s has no final state (%r); nothing sent",
                      record.get("id"), record.get("status"))
            return None
        url = target_url(job if job is not None else record.get("job"), settings)
        if not url:
            return None
        body = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        item = new_delivery(str(record.get("id")), event, url, body)
        shared = _shared
        box = outbox or (shared.outbox if shared is not None else None)
        own = box is None
        box = box or open_outbox(settings)
        try:
            box.add(item)
        finally:
            if own:
                box.close()
        log.info("webhook %s for job %s queued (delivery %s to %s)", event, item["job_id"],
                 item["id"], shown(url))
        global _warned_unsigned
        if not settings.WEBHOOK_SECRET and not _warned_unsigned:
            _warned_unsigned = True
            log.warning("WEBHOOK_SECRET is not set: webhooks are sent without a signature")
        _wake()
        return item["id"]
    except Exception:   # noqa: BLE001 - see the docstring
        log.exception("webhook: queueing the final record of job %s failed", record.get("id"))
        return None


def _batch_ended(settings, record: dict, outbox=None) -> str | None:
    """Note a job's end in its batch (protovideo.service.batches); when it was the batch's last,
    queue the batch's one `batch.ended` webhook to its batch_callback_url. The delivery id, or
    None; never raises (the jobs' outcomes are recorded already)."""
    from protovideo.service import batches
    try:
        ended = batches.job_ended(settings, record)
        if ended is None:
            return None
        url, payload = ended
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
        item = new_delivery(payload["batch_id"], batches.BATCH_EVENT, url, body)
        shared = _shared
        box = outbox or (shared.outbox if shared is not None else None)
        own = box is None
        box = box or open_outbox(settings)
        try:
            box.add(item)
        finally:
            if own:
                box.close()
        log.info("webhook %s for batch %s queued (delivery %s to %s)", item["event"], item["job_id"],
                 item["id"], shown(url))
        _wake()
        return item["id"]
    except Exception:   # noqa: BLE001 - see the docstring
        log.exception("webhook: the batch of job %s could not be checked for its end", record.get("id"))
        return None


# ---------------------------------------------------------------- one try
def attempt(item: dict, settings) -> tuple[bool, str, bool]:
    """POST one delivery once: (delivered, what happened, give up now)."""
    url = item["url"]
    problem = address_refusal(url, bool(settings.ALLOW_PRIVATE_URLS))
    if problem:
        return False, f"refused: {problem}", True
    body = item["body"].encode("utf-8")
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-ProtoVideo-Event": item["event"],
               "X-ProtoVideo-Timestamp": timestamp, "X-ProtoVideo-Delivery": item["id"]}
    if settings.WEBHOOK_SECRET:
        headers["X-ProtoVideo-Signature"] = sign(settings.WEBHOOK_SECRET, timestamp, body)
    timeout = float(settings.WEBHOOK_TIMEOUT)
    try:
        session = http_session(bool(settings.ALLOW_PRIVATE_URLS))
        response = session.post(url, data=body, headers=headers, timeout=(timeout, timeout),
                                allow_redirects=False)
        response.close()
    except RefusedAddress as exc:
        return False, f"refused: {exc}", True
    except requests.RequestException as exc:
        return False, _reason(exc), False
    if 200 <= response.status_code < 300:
        return True, f"HTTP {response.status_code}", False
    return False, f"HTTP {response.status_code}", False


def _reason(exc: requests.RequestException) -> str:
    """What went wrong, without the URL's path or query (they may hold tokens)."""
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", None)
    if reason is None:
        return type(exc).__name__
    text = str(reason)
    text = text.split(">: ", 1)[-1]          # drop "<urllib3...Connection object at 0x..>"
    return f"{type(exc).__name__}: {text[:200]}"


# ---------------------------------------------------------------- the delivery thread
class Deliverer:
    """Delivers due webhooks from the outbox on a background thread until stopped."""

    def __init__(self, settings, outbox=None, interval: float | None = None):
        self.settings = settings
        self.outbox = outbox or open_outbox(settings)
        self.interval = interval if interval is not None else min(1.0, float(settings.POLL_INTERVAL))
        self.max_age = float(settings.WEBHOOK_MAX_AGE) * 3600
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Deliverer":
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, flush: float = FLUSH_S) -> None:
        """Stop the thread; first deliver what is due now, for at most `flush` seconds."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(flush + float(self.settings.WEBHOOK_TIMEOUT) + 1)
        if flush > 0:
            self.deliver_due(deadline=time.monotonic() + flush)
        self.outbox.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:   # noqa: BLE001 - the outbox may be down for a while
                log.exception("webhook delivery round failed")
            self._wake.wait(self.interval)
            self._wake.clear()

    def deliver_due(self, deadline: float | None = None) -> int:
        """Try every due delivery once; the number delivered."""
        count = 0
        for item, handle in self.outbox.claim_due():
            count += self.deliver(item, handle)
            if (deadline is not None and time.monotonic() >= deadline) or \
                    (deadline is None and self._stop.is_set()):
                break
        return count

    def deliver(self, item: dict, handle: object) -> bool:
        item["attempts"] = int(item.get("attempts", 0)) + 1
        ok, what, final = attempt(item, self.settings)
        where = shown(item["url"])
        if ok:
            item.update(delivered_at=time.time(), last_error="")
            self.outbox.delivered(item, handle)
            log.info("webhook %s for job %s delivered to %s on try %d (%s)", item["event"],
                     item["job_id"], where, item["attempts"], what)
            return True
        item["last_error"] = what
        next_at = time.time() + backoff(item["attempts"], float(self.settings.WEBHOOK_RETRY_BACKOFF))
        if final or next_at - float(item.get("created_at", 0)) > self.max_age:
            item["given_up_at"] = time.time()
            self.outbox.give_up(item, handle)
            log.error("webhook %s for job %s to %s given up after %d tries: %s", item["event"],
                      item["job_id"], where, item["attempts"], what)
            return False
        item["next_at"] = next_at
        self.outbox.retry(item, handle)
        log.warning("webhook %s for job %s to %s failed on try %d (%s); next try in %.1fs",
                    item["event"], item["job_id"], where, item["attempts"], what,
                    next_at - time.time())
        return False


_shared: Deliverer | None = None
_users = 0
_lock = threading.Lock()


def start_delivery(settings) -> Deliverer:
    """Start this process's delivery thread (or count one more user of it)."""
    global _shared, _users
    with _lock:
        if _shared is None:
            _shared = Deliverer(settings).start()
        _users += 1
        return _shared


def stop_delivery(flush: float = FLUSH_S) -> None:
    """One user fewer; the last one stops the thread (after a short flush)."""
    global _shared, _users
    with _lock:
        _users = max(0, _users - 1)
        if _users or _shared is None:
            return
        deliverer, _shared = _shared, None
    deliverer.stop(flush)


def _wake() -> None:
    deliverer = _shared
    if deliverer is not None:
        deliverer.wake()
