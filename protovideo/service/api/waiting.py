"""Waiting for jobs to end without a thread per waiter (`POST /generate`).

One poller task per API process asks the store, in one worker thread, about every job
someone waits for, every POLL_S; a waiter sleeps on an asyncio.Event that the poller sets
when its job is finished, failed or cancelled. Waiters also look every DISCONNECT_CHECK_S
whether their client has gone (`request.is_disconnected()`), and stop waiting then: the job
goes on and stays downloadable. A thousand waiting calls cost the event loop a few
Event objects and the store one lookup per job per poll; no route waits behind them.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

import anyio

from jobmodel.states import JobState

log = logging.getLogger("protovideo.api")
POLL_S = 0.5
DISCONNECT_CHECK_S = 1.0
FINAL = frozenset({JobState.FINISHED.value, JobState.FAILED.value, JobState.CANCELLED.value})


class ClientLeft(Exception):
    """The client that waited has disconnected."""


def state_of(info) -> str | None:
    return getattr(info.state, "value", info.state) if info is not None else None


class JobEndWatch:
    """`await watch.wait(job_id, deadline, is_disconnected)`: the job's info once it has ended."""

    def __init__(self, store, poll_s: float = POLL_S, disconnect_check_s: float = DISCONNECT_CHECK_S):
        self.store, self.poll_s, self.disconnect_check_s = store, poll_s, disconnect_check_s
        self._events: dict[str, asyncio.Event] = {}
        self._waiters: dict[str, int] = {}
        self._ended: dict[str, object] = {}
        self._poller: asyncio.Task | None = None

    async def wait(self, job_id: str, deadline: float,
                   is_disconnected: Callable[[], Awaitable[bool]]):
        """The ended job's info; None at `deadline` (time.monotonic); ClientLeft when the client goes."""
        event = self._events.setdefault(job_id, asyncio.Event())
        self._waiters[job_id] = self._waiters.get(job_id, 0) + 1
        self._start_poller()
        try:
            while not event.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                try:
                    await asyncio.wait_for(event.wait(), timeout=min(left, self.disconnect_check_s))
                except asyncio.TimeoutError:
                    self._start_poller()   # again, should it have stopped on an error
                    if await is_disconnected():
                        raise ClientLeft(job_id) from None
            return self._ended.get(job_id)
        finally:
            self._waiters[job_id] -= 1
            if self._waiters[job_id] <= 0:
                del self._waiters[job_id]
                self._events.pop(job_id, None)
                self._ended.pop(job_id, None)

    @property
    def waiting(self) -> int:
        """How many calls wait now (all jobs)."""
        return sum(self._waiters.values())

    def _start_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll(), name="job-end-watch")

    async def _poll(self) -> None:
        while self._events:
            ids = [job_id for job_id, event in self._events.items() if not event.is_set()]
            if ids:
                found = await anyio.to_thread.run_sync(self._look_up, ids)
                for job_id, info in found.items():
                    event = self._events.get(job_id)
                    if event is not None:
                        self._ended[job_id] = info
                        event.set()
            await asyncio.sleep(self.poll_s)

    def _look_up(self, ids: list[str]) -> dict[str, object]:
        """{job id: info} of the jobs among `ids` that have ended (in a worker thread)."""
        ended = {}
        for job_id in ids:
            try:
                info = self.store.get(job_id, with_job=False)
            except Exception as exc:   # noqa: BLE001 - the source is down: try again next poll
                log.warning("waiting for %d job(s) to end: the job source did not answer (%s: %s)",
                            len(ids), type(exc).__name__, exc)
                break
            if state_of(info) in FINAL:
                ended[job_id] = info
        return ended
