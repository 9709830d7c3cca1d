"""Live job changes for `GET /v1/events` (server-sent events), with one poller per API process.

The workers that change jobs may run in other processes (or on other machines, with Redis),
so the changes are found by looking: while anyone listens, one task asks the store every
POLL_S, in one worker thread, for

    - the running jobs (every one), the RECENT newest jobs (new submissions, retries), and
    - each job seen queued or running before that is in neither list any more (it ended),

makes each one's view (views.job_view, the same as GET /v1/jobs/{id}) and hands the ones that
changed since the last look to every subscriber: `("job", {"id", "state", "progress",
"eta_s", ...})`, and `("queue", depths)` when the queue's depths changed. The cost is one look
per POLL_S whatever the number of listeners; each listener costs an asyncio.Queue of at most
QUEUE_MAX events (a listener that falls that far behind gets `("resync", {})` instead, and
reads the list again). At most MAX_SUBSCRIBERS listen at once (TooManyListeners: 503).
"""
from __future__ import annotations

import asyncio
import logging

import anyio

from jobmodel.states import JobState
from protovideo.service.api.views import job_view

log = logging.getLogger("protovideo.api")
POLL_S = 0.5
RECENT = 50
WATCH_MAX = 500          # jobs that left the lists looked up one by one, per look
QUEUE_MAX = 200
MAX_SUBSCRIBERS = 100
ACTIVE = frozenset({JobState.QUEUED.value, JobState.STARTED.value})
EVENT_FIELDS = ("id", "state", "progress", "eta_s", "priority", "title", "attempts", "submitted_at",
                "started_at", "finished_at", "worker", "cancel_requested", "retry_pending", "links",
                "error")


class TooManyListeners(RuntimeError):
    """MAX_SUBSCRIBERS streams are open already."""


def event_data(view: dict) -> dict:
    """What a `job` event carries: the list row's fields, and the QC verdict of a finished job."""
    data = {name: view.get(name) for name in EVENT_FIELDS if name in view}
    qc = (view.get("record") or {}).get("qc") if isinstance(view.get("record"), dict) else None
    if isinstance(qc, dict):
        data["qc"] = {"passed": qc.get("passed"), "problems": len(qc.get("problems") or [])}
    return data


class JobEvents:
    def __init__(self, store, eta_model=None, poll_s: float = POLL_S, max_subscribers: int = MAX_SUBSCRIBERS):
        self.store, self.poll_s, self.max_subscribers = store, poll_s, max_subscribers
        self.eta_model = eta_model     # a callable giving the API's EtaModel (made on first use)
        self.subscribers: set[asyncio.Queue] = set()
        self.looks = 0                 # looks at the store so far (tests, /v1/system)
        self._last: dict[str, dict] = {}
        self._watch: set[str] = set()
        self._queue: dict | None = None
        self._poller: asyncio.Task | None = None

    # ------------------------------------------------------------ listeners
    def subscribe(self) -> asyncio.Queue:
        if len(self.subscribers) >= self.max_subscribers:
            raise TooManyListeners(f"{len(self.subscribers)} event streams are open (the most this "
                                   "server keeps); close a dashboard tab, or poll GET /v1/jobs")
        queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_MAX)
        self.subscribers.add(queue)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll(), name="job-events")
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.subscribers.discard(queue)

    def _publish(self, name: str, data: dict) -> None:
        for queue in list(self.subscribers):
            try:
                queue.put_nowait((name, data))
            except asyncio.QueueFull:   # a listener far behind: it reads the whole list again
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(("resync", {}))

    # ------------------------------------------------------------ the one poller
    async def _poll(self) -> None:
        try:
            while self.subscribers:
                try:
                    changes = await anyio.to_thread.run_sync(self.look)
                except Exception as exc:   # noqa: BLE001 - the source is down: look again later
                    log.warning("live events: the job source did not answer (%s)", exc)
                    changes = []
                for name, data in changes:
                    self._publish(name, data)
                await asyncio.sleep(self.poll_s)
        finally:
            self._last, self._watch, self._queue = {}, set(), None   # the next listener starts afresh

    def look(self) -> list[tuple[str, dict]]:
        """The changes since the last look (in a worker thread)."""
        self.looks += 1
        found = {}
        running, _ = self.store.list_jobs(state=JobState.STARTED.value, limit=1000)
        recent, _ = self.store.list_jobs(limit=RECENT)
        for info in (*running, *recent):
            found.setdefault(info.id, info)
        for job_id in list(self._watch - found.keys())[:WATCH_MAX]:
            info = self.store.get(job_id, with_job=False)
            if info is not None:
                info.job = None
                found[job_id] = info
        model = self.eta_model() if callable(self.eta_model) else self.eta_model
        changes, last = [], {}
        for job_id, info in found.items():
            data = event_data(job_view(info, model))
            last[job_id] = data
            if self._last.get(job_id) != data:
                changes.append(("job", data))
        self._last = last
        self._watch = {job_id for job_id, data in last.items() if data["state"] in ACTIVE}
        from protovideo.service.api.routes_system import queue_view
        queue = queue_view(self.store)
        if queue != self._queue:
            self._queue = queue
            changes.append(("queue", queue))
        return changes
