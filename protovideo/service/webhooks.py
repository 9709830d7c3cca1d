"""Webhooks: a job's final record POSTed to its callback_url (or WEBHOOK_URL), signed, retried.

    job_ended(settings, record, job)    queue the delivery of a final record (finished,
                                        failed or cancelled); the worker's middleware and
                                        the cancel path of queued jobs call it
    check_callback_url(url, settings)   the address policy at submit (JobInvalid naming callback_url)
    sign(secret, timestamp, body)       "sha256=<hex HMAC-SHA256 of '<timestamp>.<body>'>"
    start_delivery(settings) / stop_delivery()   the delivery threads (in the worker and
                                        in `serve`; one Deliverer per process)

Each try sends `Content-Type: application/json`, `X-ProtoVideo-Event: job.finished|
job.failed|job.cancelled`, `X-ProtoVideo-Timestamp: <unix s>`, `X-ProtoVideo-Delivery: <id>`
(the same on every try, for receivers that deduplicate) and, when WEBHOOK_SECRET is set,
`X-ProtoVideo-Signature: sha256=...`. A 2xx answer ends the delivery; anything else
(another status, a timeout, a refused connection) is tried again after
WEBHOOK_RETRY_BACKOFF seconds, doubling (with jitter, at most an hour) until
WEBHOOK_MAX_AGE hours have passed. Tries run side by side (WEBHOOK_CONCURRENCY senders,
at most PER_RECEIVER to one receiver); each try ends within WEBHOOK_TIMEOUT in all
(connect, headers and answer), and only the first 64 KiB of an answer are read, then
dropped (protovideo.service.webhook_http), so a slow or bloated receiver delays no
other receiver's webhook. Pending deliveries live in the outbox
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
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable
from urllib.parse import urlsplit

import requests

from generators.netpolicy import RefusedAddress, resolve_checked
from jobmodel.backoff import Backoff
from jobmodel.errors import JobInvalid
from jobmodel.fields import http_url
from protovideo.service import webhook_http
from protovideo.service.webhook_outbox import new_delivery, open_outbox

log = logging.getLogger("protovideo.webhooks")

EVENTS = {"done": "job.finished", "finished": "job.finished", "failed": "job.failed",
          "cancelled": "job.cancelled"}
MAX_BACKOFF_S = 3600.0
FLUSH_S = 5.0              # at shutdown: time left to deliver what is due now
PER_RECEIVER = 2           # tries in flight to one receiver (scheme, host, port) at once
DEFER_S = 1.0              # a delivery whose receiver is busy waits this long
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
        _add(settings, item, outbox)
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


def _add(settings, item: dict, outbox=None) -> None:
    """Put a delivery in `outbox`, else the running deliverer's, else the settings' (opened for it)."""
    shared = _shared
    box = outbox or (shared.outbox if shared is not None else None)
    own = box is None
    box = box or open_outbox(settings)
    try:
        box.add(item)
    finally:
        if own:
            box.close()


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
        _add(settings, item, outbox)
        log.info("webhook %s for batch %s queued (delivery %s to %s)", item["event"], item["job_id"],
                 item["id"], shown(url))
        _wake()
        return item["id"]
    except Exception:   # noqa: BLE001 - see the docstring
        log.exception("webhook: the batch of job %s could not be checked for its end", record.get("id"))
        return None


# ---------------------------------------------------------------- one try
def attempt(item: dict, settings) -> tuple[bool, str, bool]:
    """POST one delivery once: (delivered, what happened, give up now). The try ends
    within WEBHOOK_TIMEOUT whatever the receiver does (protovideo.service.webhook_http)."""
    url = item["url"]
    allow_private = bool(settings.ALLOW_PRIVATE_URLS)
    problem = address_refusal(url, allow_private)
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
        status, _note = webhook_http.post(url, body, headers, timeout, allow_private)
    except RefusedAddress as exc:
        return False, f"refused: {exc}", True
    except webhook_http.DeadlinePassed:
        return False, f"no answer within WEBHOOK_TIMEOUT ({timeout:g}s)", False
    except requests.RequestException as exc:
        return False, _reason(exc), False
    return 200 <= status < 300, f"HTTP {status}", False


def _reason(exc: requests.RequestException) -> str:
    """What went wrong, without the URL's path or query (they may hold tokens)."""
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", None)
    if reason is None:
        return type(exc).__name__
    text = str(reason)
    text = text.split(">: ", 1)[-1]          # drop "<urllib3...Connection object at 0x..>"
    return f"{type(exc).__name__}: {text[:200]}"


def receiver_of(url: str) -> str:
    """The receiver a URL belongs to (scheme, host and port): the unit of PER_RECEIVER."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{parts.port or ''}"
    except ValueError:
        return url


# ---------------------------------------------------------------- the delivery threads
class Deliverer:
    """Delivers due webhooks from the outbox until stopped: a dispatch thread claims due
    deliveries and hands each to a pool of WEBHOOK_CONCURRENCY sender threads, at most
    PER_RECEIVER of them to one receiver, so one slow receiver holds no other's delivery.
    A delivery is claimed only when a sender is free; one whose receiver has PER_RECEIVER
    tries in flight goes back to the queue for DEFER_S (no try counted)."""

    def __init__(self, settings, outbox=None, interval: float | None = None):
        self.settings = settings
        self.outbox = outbox or open_outbox(settings)
        self.interval = interval if interval is not None else min(1.0, float(settings.POLL_INTERVAL))
        self.max_age = float(settings.WEBHOOK_MAX_AGE) * 3600
        self.slots = int(settings.WEBHOOK_CONCURRENCY)
        self.per_receiver = min(PER_RECEIVER, self.slots)
        self._pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="webhook")
        self._free = threading.Semaphore(self.slots)
        self._busy: dict[str, int] = {}        # receiver -> tries in flight
        self._inflight: set[Future] = set()
        self._lock = threading.Lock()
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
        """Stop; first deliver what is due now, for at most `flush` seconds (tries in
        flight get their WEBHOOK_TIMEOUT on top)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        if flush > 0:
            ends = time.monotonic() + flush
            self.dispatch_due(give_up=lambda: time.monotonic() >= ends)
        with self._lock:
            running = set(self._inflight)
        wait(running, timeout=max(flush, 0) + float(self.settings.WEBHOOK_TIMEOUT) + 1)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.outbox.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()                 # before the round: a wake during it is kept
            try:
                self.dispatch_due(give_up=self._stop.is_set)
            except Exception:   # noqa: BLE001 - the outbox may be down for a while
                log.exception("webhook delivery round failed")
            self._wake.wait(self.interval)

    def deliver_due(self, deadline: float | None = None) -> int:
        """Try every due delivery once and wait for the tries; the number delivered."""
        if deadline is None:
            started = self.dispatch_due()
            done, _ = wait(started)
        else:
            started = self.dispatch_due(give_up=lambda: time.monotonic() >= deadline)
            done, _ = wait(started, timeout=max(0.0, deadline - time.monotonic()))
        return sum(1 for f in done if f.exception() is None and f.result())

    def dispatch_due(self, give_up: Callable[[], bool] = lambda: False) -> list[Future]:
        """Start a try of every due delivery (when a sender is free, and its receiver has
        fewer than PER_RECEIVER in flight); the tries started, not waited for."""
        now = time.time()                      # one round: what is due now
        started: list[Future] = []
        claims = self.outbox.claim_due(now)
        try:
            while self._take_slot(give_up):
                try:
                    item, handle = next(claims)
                except StopIteration:
                    self._free.release()
                    break
                receiver = receiver_of(item["url"])
                with self._lock:
                    full = self._busy.get(receiver, 0) >= self.per_receiver
                    if not full:
                        self._busy[receiver] = self._busy.get(receiver, 0) + 1
                if full:
                    self._free.release()
                    item["next_at"] = time.time() + DEFER_S
                    self.outbox.retry(item, handle)
                    log.debug("webhook %s for job %s: %s is busy; waits %.0fs", item["event"],
                              item["job_id"], shown(item["url"]), DEFER_S)
                    continue
                future = self._pool.submit(self._send, item, handle, receiver)
                with self._lock:
                    self._inflight.add(future)
                future.add_done_callback(self._forget)
                started.append(future)
        finally:
            claims.close()
        return started

    def _take_slot(self, give_up: Callable[[], bool]) -> bool:
        while not give_up():
            if self._free.acquire(timeout=0.2):
                return True
        return False

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._inflight.discard(future)

    def _send(self, item: dict, handle: object, receiver: str) -> bool:
        try:
            return self.deliver(item, handle)
        except Exception:   # noqa: BLE001 - the outbox may be down; the claim's lease returns it
            log.exception("webhook %s for job %s: recording the try failed", item.get("event"),
                          item.get("job_id"))
            return False
        finally:
            with self._lock:
                left = self._busy.get(receiver, 1) - 1
                if left > 0:
                    self._busy[receiver] = left
                else:
                    self._busy.pop(receiver, None)
            self._free.release()

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
