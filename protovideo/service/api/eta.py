"""ETAs in the job API: a running job's from its worker, a queued job's from its place in the queue.

A running job's worker publishes `eta_s` with its progress (protovideo.pipeline.progress: the
work left, at the rates seen so far in that job). A queued job waits for the jobs ahead of it, in
the order workers claim them (priority, then submission), on the workers seen: its ETA is the
seconds left of the running jobs plus the predicted seconds of the queued jobs ahead, divided by
the workers (at least one; those whose presence beat lately, GET /v1/workers, and those running
jobs, at least one per running job), plus its own predicted seconds. A job's predicted seconds are its work plan
(protovideo.pipeline.workplan) at the rates learnt from the reports in REPORT_DIR.

The queue is read at most every QUEUE_TTL_S (a list of 50 queued jobs reads it once), and a
job's work plan once per job id.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from jobmodel.spec import PRIORITIES
from jobmodel.states import JobState

log = logging.getLogger("protovideo.api")
QUEUE_TTL_S = 2.0
FRESH_S = 0.25          # a job missing from the look (queued since) reads the queue again, at most this often
WORKERS_ALIVE_S = 30.0  # a worker whose presence beat (every 5 s) is this recent takes jobs
QUEUE_MAX = 1000        # queued jobs looked at; a job further back has no ETA
KNOWN_MAX = 4000        # work plans kept, by job id


@dataclass
class QueueLook:
    order: list[str] = field(default_factory=list)                 # queued job ids, first claimed first
    ahead_s: dict[str, float] = field(default_factory=dict)        # job id -> predicted seconds ahead of it
    running_left_s: float = 0.0
    workers: int = 1


class EtaModel:
    def __init__(self, settings, store=None, clock=time.monotonic):
        self.settings, self.store, self.clock = settings, store, clock
        self._lock = threading.Lock()
        self._known: OrderedDict = OrderedDict()   # job id -> its WorkPlan (None: unreadable)
        self._look: QueueLook | None = None
        self._looked_at = float("-inf")

    # -- one job --------------------------------------------------------------------------
    def predicted(self, job_id: str, job: dict | None) -> float | None:
        """Seconds the job takes on this machine, before it starts (None: it cannot be read)."""
        from protovideo.pipeline.progress import predicted_seconds
        from protovideo.pipeline.pace import Pace
        with self._lock:
            known = job_id in self._known
            plan = self._known.get(job_id)
        if not known:
            plan = self._plan(job_id, job)
            with self._lock:
                self._known[job_id] = plan
                while len(self._known) > KNOWN_MAX:
                    self._known.popitem(last=False)
        if plan is None:
            return None
        return round(predicted_seconds(plan, Pace.learnt(self.settings.path("REPORT_DIR"))), 1)

    def _plan(self, job_id: str, job: dict | None):
        from jobmodel.errors import JobInvalid
        from protovideo.pipeline.jobcheck import JobChecker
        from protovideo.pipeline.workplan import WorkPlan
        if job is None and self.store is not None:
            info = self.store.get(job_id)
            job = info.job if info is not None else None
        if not isinstance(job, dict):
            return None
        try:
            parsed = JobChecker(self.settings).parse(job)
        except (JobInvalid, ValueError, TypeError):
            return None
        return WorkPlan(parsed, qc=self.settings.QC != "off")

    def running(self, info) -> float | None:
        """A running job's seconds left: its worker's; else the share of its predicted seconds left."""
        progress = info.progress or {}
        told = progress.get("eta_s")
        if isinstance(told, (int, float)) and not isinstance(told, bool):
            return round(max(0.0, float(told)), 1)
        expected = self.predicted(info.id, info.job)
        total = progress.get("total") or 0
        if expected is None:
            return None
        share = min(1.0, (progress.get("done") or 0) / total) if total else 0.0
        return round(expected * (1.0 - share), 1)

    def queued(self, info) -> float | None:
        """A queued job's seconds until it is finished: the work ahead of it over the workers, and its own."""
        own = self.predicted(info.id, info.job)
        look = self.queue()
        ahead = look.ahead_s.get(info.id)
        if ahead is None:   # queued since the last look: look again (not more often than FRESH_S)
            look = self.queue(fresh_s=FRESH_S)
            ahead = look.ahead_s.get(info.id)
        if own is None or ahead is None:
            return None
        return round((look.running_left_s + ahead) / look.workers + own, 1)

    # -- the queue --------------------------------------------------------------------------
    def queue(self, fresh_s: float = QUEUE_TTL_S) -> QueueLook:
        """The queue as last looked at, read again when the look is older than `fresh_s`."""
        with self._lock:
            if self._look is not None and self.clock() - self._looked_at < fresh_s:
                return self._look
        try:
            look = self._read_queue()
        except Exception:   # noqa: BLE001 - a view answers without an ETA rather than fail
            log.warning("the queue could not be read for ETAs", exc_info=True)
            look = QueueLook()
        with self._lock:
            self._look, self._looked_at = look, self.clock()
        return look

    def _read_queue(self) -> QueueLook:
        look = QueueLook()
        if self.store is None:
            return look
        queued = _all(self.store, JobState.QUEUED)
        running = _all(self.store, JobState.STARTED)
        rank = {p: i for i, p in enumerate(PRIORITIES)}
        queued.sort(key=lambda i: (rank.get(i.priority, len(PRIORITIES)), i.submitted_at or ""))
        ahead = 0.0
        for info in queued:
            look.order.append(info.id)
            look.ahead_s[info.id] = ahead
            ahead += self.predicted(info.id, info.job) or 0.0
        look.running_left_s = sum(self.running(info) or 0.0 for info in running)
        workers = {info.worker for info in running if info.worker} | set(_alive(self.store))
        look.workers = max(1, len(running), len(workers))
        return look


def _alive(store) -> list[str]:
    """The workers the source saw beat lately (sources/presence.py; none where it keeps no list)."""
    try:
        return [w["name"] for w in store.workers(WORKERS_ALIVE_S) if w.get("name")]
    except Exception:   # noqa: BLE001 - no presence: the running jobs' workers are the ones seen
        return []


def _all(store, state: JobState) -> list:
    """The jobs in `state`, up to QUEUE_MAX (list_jobs pages, newest first)."""
    found, cursor = [], None
    while len(found) < QUEUE_MAX:
        page, cursor = store.list_jobs(state=state, limit=min(1000, QUEUE_MAX - len(found)), cursor=cursor)
        found.extend(page)
        if not cursor:
            break
    return found
