"""HTTP job API source (JOB_SOURCE=http): poll a job server for work, report back.

The protocol (documented in docs/DAEMON.md), all JSON, bearer JOB_API_TOKEN:

    POST {url}/jobs/claim            {"worker", "lease_seconds"}   -> 200 {"id","job","attempts","priority"} | 204
    POST {url}/jobs/{id}/heartbeat   {"worker", "progress"}        -> 200 | 404/409 lease lost
    POST {url}/jobs/{id}/complete    {"worker", "result"}          -> 200
    POST {url}/jobs/{id}/fail        {"worker", "error", "retry", "retry_in", "record"} -> 200
    POST {url}/jobs/{id}/release     {"worker"}                    -> 200
    POST {url}/jobs                  {"job", "priority"}           -> 200/201 {"id"}     (submit)
    GET  {url}/jobs/{id}                                           -> 200 {"id","state",...} | 404
    GET  {url}/queue                                               -> 200 {"queued": {...}, ...}

The server owns ordering, leases and attempt counts; the worker decides whether a
failure is retried (and after how long). While the API is unreachable or answers
5xx/429, the source backs off exponentially (with jitter) instead of hammering it.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from jobmodel.backoff import Backoff
from jobmodel.states import JobState
from jobmodel.spec import priority_name
from protovideo.service.sources.base import (ClaimedJob, JobSource, LeaseLost,
                                             decode_raw_job, default_worker_name, now_iso)
from protovideo.service.sources.store import SubmitResult

log = logging.getLogger("protovideo.http_source")

DOWN_BACKOFF = Backoff(base=0.5, cap=60.0)       # between claims while the API is down
DELIVERY_BACKOFF = Backoff(base=0.5, cap=16.0)   # between tries to deliver an outcome
DELIVERY_TRIES = 6


class ApiError(RuntimeError):
    """The job API answered something the worker cannot work with."""


class HttpSource(JobSource):
    name = "http"

    def __init__(self, settings, worker_name: str | None = None,
                 session: requests.Session | None = None):
        self.settings = settings
        self.base = settings.JOB_API_URL.rstrip("/")
        self.worker_name = worker_name or default_worker_name()
        self.session = session or requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=4)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "protovideo-worker"
        if settings.JOB_API_TOKEN:
            self.session.headers["Authorization"] = f"Bearer {settings.JOB_API_TOKEN}"
        self.timeout = (5.0, 30.0)
        self._failures = 0
        self._down_until = 0.0
        self._drained = False

    # ------------------------------------------------------------ transport
    def _url(self, *parts: str) -> str:
        return "/".join([self.base, *(quote(p, safe="") for p in parts)])

    def _request(self, method: str, url: str, payload: dict | None = None) -> requests.Response:
        response = self.session.request(method, url, json=payload, timeout=self.timeout)
        if response.status_code in (401, 403):
            raise ApiError(f"the job API refused the credentials (HTTP {response.status_code}); "
                           "check JOB_API_TOKEN")
        return response

    def _went_down(self, why: str) -> None:
        self._failures += 1
        delay = DOWN_BACKOFF.delay(self._failures)
        self._down_until = time.monotonic() + delay
        log.warning("job API %s unavailable (%s); next try in %.1fs", self.base, why, delay)

    def _came_back(self) -> None:
        if self._failures:
            log.info("job API %s reachable again", self.base)
        self._failures = 0
        self._down_until = 0.0

    def _deliver(self, claimed: ClaimedJob, action: str, payload: dict) -> None:
        """POST an outcome; retried with backoff so that a short outage loses nothing."""
        payload = {"worker": self.worker_name, **payload}
        url = self._url("jobs", claimed.id, action)
        for attempt in range(1, DELIVERY_TRIES + 1):
            try:
                response = self._request("POST", url, payload)
            except requests.RequestException as exc:
                problem = str(exc)
            else:
                if response.status_code in (200, 201, 204):
                    return
                if response.status_code in (404, 409, 410):
                    raise LeaseLost(f"job {claimed.id}: the job API no longer gives this worker "
                                    f"the job (HTTP {response.status_code})")
                if response.status_code < 500 and response.status_code != 429:
                    raise ApiError(f"{action} of job {claimed.id}: HTTP {response.status_code} "
                                   f"{response.text[:200]}")
                problem = f"HTTP {response.status_code}"
            if attempt < DELIVERY_TRIES:
                delay = DELIVERY_BACKOFF.delay(attempt)
                log.warning("%s of job %s failed (%s); retrying in %.1fs", action, claimed.id,
                            problem, delay)
                time.sleep(delay)
        raise ApiError(f"{action} of job {claimed.id} failed {DELIVERY_TRIES} times: {problem}")

    # ------------------------------------------------------------ claim
    def claim(self) -> ClaimedJob | None:
        if time.monotonic() < self._down_until:
            return None
        try:
            response = self._request("POST", self._url("jobs", "claim"), {
                "worker": self.worker_name, "lease_seconds": self.settings.LEASE_SECONDS})
        except requests.RequestException as exc:
            self._went_down(type(exc).__name__)
            return None
        if response.status_code >= 500 or response.status_code == 429:
            self._went_down(f"HTTP {response.status_code}")
            return None
        self._came_back()
        if response.status_code == 204:
            self._drained = True
            return None
        if response.status_code != 200:
            raise ApiError(f"claim: HTTP {response.status_code} {response.text[:200]}")
        self._drained = False
        try:
            body = response.json()
            job_id = str(body["id"])
        except (ValueError, KeyError, TypeError):
            raise ApiError(f"claim: the answer is not {{\"id\", \"job\"}}: {response.text[:200]}") \
                from None
        data, decode_error = decode_raw_job(body.get("job"))
        if isinstance(data, dict) and "id" not in data:
            data["id"] = job_id
        priority = priority_name(body.get("priority")) or "normal"
        return ClaimedJob(id=job_id, data=data, attempts=int(body.get("attempts") or 1),
                          priority=priority, base_dir=self.settings.path("ASSET_ROOT"),
                          decode_error=decode_error, claimed_at=now_iso(),
                          raw=body.get("job") if data is None else None)

    # ------------------------------------------------------------ while running / outcomes
    def heartbeat(self, claimed: ClaimedJob) -> None:
        response = self._request("POST", self._url("jobs", claimed.id, "heartbeat"),
                                 {"worker": self.worker_name, "progress": claimed.progress})
        if response.status_code in (404, 409, 410):
            raise LeaseLost(f"job {claimed.id}: the job API took the lease back "
                            f"(HTTP {response.status_code})")
        if response.status_code >= 300:
            raise ApiError(f"heartbeat: HTTP {response.status_code}")

    def complete(self, claimed: ClaimedJob, record: dict) -> None:
        self._deliver(claimed, "complete", {"result": record})

    def fail(self, claimed: ClaimedJob, error: dict, retry_in: float | None = None) -> None:
        payload = {"error": error, "retry": retry_in is not None,
                   "retry_in": round(retry_in, 3) if retry_in is not None else None,
                   "attempts": claimed.attempts}
        if retry_in is None:
            payload["record"] = self.failure_record(claimed, error)
        self._deliver(claimed, "fail", payload)

    def release(self, claimed: ClaimedJob) -> None:
        self._deliver(claimed, "release", {})

    def is_drained(self) -> bool:
        """Nothing to claim now, and the API counts nothing queued (jobs waiting for a retry
        included) or in progress: `run --once` may stop."""
        if not self._drained:
            return False
        try:
            info = self.status()
        except Exception:  # noqa: BLE001 - the API is down: not known to be drained
            return False
        return not (info.get("queued_total") or info.get("retry_pending") or info.get("in_progress"))

    # ------------------------------------------------------------ submit / status
    def submit(self, data: dict, priority: str | None = None, base_dir: Path | None = None,
               idempotency_key: str | None = None) -> SubmitResult:
        """Hand the job to the job server (`POST {url}/jobs`); a `200` answer means the server
        returned a job it already had, `201` a new one. get/list_jobs/cancel are not offered:
        this source is a client of another job server and keeps no jobs (NotImplementedError)."""
        url = self._url("jobs")
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = self.session.request("POST", url, json={"job": data, "priority": priority},
                                        headers=headers, timeout=self.timeout)
        if response.status_code in (401, 403):
            raise ApiError(f"the job API refused the credentials (HTTP {response.status_code}); "
                           "check JOB_API_TOKEN")
        if response.status_code not in (200, 201):
            raise ApiError(f"submit: HTTP {response.status_code} {response.text[:200]}")
        answer = response.json() if response.content else {}
        try:
            state = JobState(answer.get("state") or "queued")
        except ValueError:
            state = JobState.QUEUED
        # 201: a new job; 200 with a state: a job the server already had; a bare
        # 200 {"id"} (servers of the older protocol): taken as new
        return SubmitResult(str(answer.get("id") or data.get("id")),
                            response.status_code == 201 or "state" not in answer, state)

    def status(self, job_id: str | None = None) -> dict:
        url = self._url("jobs", job_id) if job_id else self._url("queue")
        response = self._request("GET", url)
        if job_id and response.status_code == 404:
            return {"id": job_id, "state": "unknown"}
        if response.status_code != 200:
            raise ApiError(f"status: HTTP {response.status_code} {response.text[:200]}")
        info = response.json()
        if not job_id:
            info.setdefault("source", "http")
        return info

    def close(self) -> None:
        self.session.close()
