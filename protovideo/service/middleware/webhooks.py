"""Webhooks middleware: a job's final record goes to its callback_url (or WEBHOOK_URL).

The worker calls `after_job_ended` once the source has recorded a job's final
record (finished, failed for good, cancelled while running); a failed attempt
that will be tried again never reaches it. The record sent is the one the source
stored (it adds priority and submission time): the source reports it to a
final-state listener this middleware registers. A job the source ends by itself,
outside any job of this worker (dead-lettered at claim after its workers died
MAX_ATTEMPTS times), is sent from that listener directly.

The delivery (signature, retries, the outbox that survives restarts) is
protovideo.service.webhooks; this middleware starts its delivery thread with the
worker and stops it (after a short flush) when the worker stops.
"""
from __future__ import annotations

from typing import Any

from protovideo.service import webhooks
from protovideo.service.middleware.base import Middleware, WorkerView


class WebhooksMiddleware(Middleware):
    def __init__(self, settings):
        self.settings = settings
        self.started = False
        self.worker: WorkerView | None = None
        self._stored: dict[str, dict] = {}   # job id -> the final record the source stored

    def before_worker_boot(self, worker: WorkerView) -> None:
        self.worker = worker
        add = getattr(worker.source, "add_final_listener", None)
        if callable(add):
            add(self._on_final)
        webhooks.start_delivery(self.settings)
        self.started = True

    def _on_final(self, event: str, record: dict) -> None:
        running = getattr(self.worker, "running", None) or {}
        job_id = record.get("id")
        if job_id in running:
            self._stored[job_id] = record    # that job's after_job_ended sends it
        else:
            webhooks.job_ended(self.settings, record, record.get("job"))

    def after_job_ended(self, worker: WorkerView, claimed: Any, record: dict) -> None:
        stored = self._stored.pop(claimed.id, None) or record
        webhooks.job_ended(self.settings, stored, claimed.job_data())

    def after_job_released(self, worker: WorkerView, claimed: Any) -> None:
        self._stored.pop(claimed.id, None)

    def _send_leftovers(self) -> None:
        """Final records the source wrote while the worker saw another outcome (a job
        cancelled while its failed attempt was being queued again): sent as they are. A job
        still running here (MAX_JOBS > 1) keeps its record for its own after_job_ended."""
        running = getattr(self.worker, "running", None) or {}
        for job_id in [k for k in list(self._stored) if k not in running]:
            record = self._stored.pop(job_id, None)
            if record is not None:
                webhooks.job_ended(self.settings, record, record.get("job"))

    def before_process_job(self, worker: WorkerView, claimed: Any) -> None:
        self._send_leftovers()

    def after_idle(self, worker: WorkerView) -> None:
        self._send_leftovers()

    def after_worker_shutdown(self, worker: WorkerView) -> None:
        self._send_leftovers()
        if self.started:
            self.started = False
            webhooks.stop_delivery()
