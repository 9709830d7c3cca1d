"""Presence middleware: the worker tells its job source it is alive (`GET /v1/workers`).

A small thread beats every BEAT_S seconds, and at once when a job starts or ends:
`source.worker_seen(name, {"host", "pid", "state", "jobs", "current_job", "started_at",
"counts"})` (sources/presence.py keeps it: a file under SPOOL_DIR/workers/, or Redis keys).
The jobs are a list, so a worker rendering several at once lists them all. On shutdown
the worker leaves the list (`worker_gone`). A beat that fails is logged once and tried
again on the next beat; it never stops the worker.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from protovideo.service.middleware.base import Middleware
from protovideo.service.sources.base import now_iso

log = logging.getLogger("protovideo.service.presence")
BEAT_S = 5.0


class WorkerPresence(Middleware):
    def __init__(self, beat_s: float = BEAT_S):
        self.beat_s = beat_s
        self.jobs: list[str] = []
        self.started_at = now_iso()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    # ------------------------------------------------------------ hooks
    def before_worker_boot(self, worker: Any) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beats, args=(worker,), name="worker-presence",
                                        daemon=True)
        self._thread.start()

    def before_process_job(self, worker: Any, claimed: Any) -> None:
        with self._lock:
            if claimed.id not in self.jobs:
                self.jobs.append(claimed.id)
        self._wake.set()

    def _job_left(self, claimed: Any) -> None:
        with self._lock:
            if claimed.id in self.jobs:
                self.jobs.remove(claimed.id)
        self._wake.set()

    def after_process_job(self, worker: Any, claimed: Any, result: Any) -> None:
        self._job_left(claimed)

    def after_job_failed(self, worker: Any, claimed: Any, error: BaseException) -> None:
        self._job_left(claimed)

    def after_job_cancelled(self, worker: Any, claimed: Any) -> None:
        self._job_left(claimed)

    def after_job_released(self, worker: Any, claimed: Any) -> None:
        self._job_left(claimed)

    def after_worker_shutdown(self, worker: Any) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        try:
            worker.source.worker_gone(worker.name)
        except Exception as exc:   # noqa: BLE001 - its entry ages out of the list anyway
            log.warning("could not take worker %s off the workers list: %s", worker.name, exc)

    # ------------------------------------------------------------ beats
    def info(self, worker: Any) -> dict:
        with self._lock:
            jobs = list(self.jobs)
        stopping = bool(getattr(worker, "stopping", False))
        return {"host": socket.gethostname(), "pid": os.getpid(),
                "state": "stopping" if stopping else ("busy" if jobs else "idle"),
                "jobs": jobs, "current_job": jobs[0] if jobs else None,
                "started_at": self.started_at, "source": getattr(worker.source, "name", ""),
                "counts": dict(getattr(worker, "counts", {}) or {})}

    def beat(self, worker: Any) -> None:
        try:
            worker.source.worker_seen(worker.name, self.info(worker))
            self._failing = False
        except Exception as exc:   # noqa: BLE001 - the source is down: the next beat tries again
            if not self._failing:
                log.warning("worker %s: presence beat failed: %s", worker.name, exc)
            self._failing = True

    def _beats(self, worker: Any) -> None:
        while not self._stop.is_set():
            self.beat(worker)
            self._wake.wait(self.beat_s)
            self._wake.clear()
