"""One bad webhook receiver delays no other: the real API server (`serve`) in its own process,
real receivers on 127.0.0.1 (tests/bad_receivers.py, tests/webhook_receiver.py).

A receiver that drips one header line a second and one that answers a 256 MiB body are both
in flight when a healthy receiver's webhook is queued: the healthy one gets it within
WEBHOOK_TIMEOUT, the drip's try is cut at its whole-request deadline, and the server's
resident memory (read from /proc, its peak reset first) grows by less than 50 MB.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from api_helpers import ApiProcess
from bad_receivers import MIB, DripReceiver, HugeReceiver
from daemon_helpers import tiny_job, wait_for
from webhook_receiver import Receiver, verify

SECRET = "isolation-secret"
TIMEOUT = 8          # WEBHOOK_TIMEOUT of the server; the drip alone would go on for 100 s


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


class RssSampler:
    """The largest VmRSS of a process seen every 50 ms, beside its kernel-kept peak (VmHWM,
    reset at the start where /proc/<pid>/clear_refs allows it)."""

    def __init__(self, pid: int):
        self.pid = pid
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self.peak = rss_kb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.peak = max(self.peak, rss_kb(self.pid))
            except (OSError, AssertionError):
                return

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        peak = self.peak
        if self.hwm_reset:
            peak = max(peak, rss_kb(self.pid, "VmHWM"))
        return peak


def outbox_items(tmp_path: Path) -> dict[str, dict]:
    """Every delivery in the spool's webhook outbox, by job id, whatever its folder."""
    found = {}
    for path in sorted((tmp_path / "var" / "spool" / "webhooks").glob("*/*.json")):
        item = json.loads(path.read_text())
        found[item["job_id"]] = dict(item, folder=path.parent.name)
    return found


def test_a_dripping_and_a_huge_receiver_do_not_delay_a_healthy_one(tmp_path):
    """Three webhooks to the drip (at most 2 tried at once), one to the 256 MiB answer, then
    one to a healthy receiver: 4 senders are enough for it to go straight through."""
    drips = ["drip-1", "drip-2", "drip-3"]
    with DripReceiver() as drip, HugeReceiver() as huge, Receiver() as healthy:
        api = ApiProcess(tmp_path, "serve", ALLOW_PRIVATE_URLS="true", WEBHOOK_SECRET=SECRET,
                         WEBHOOK_TIMEOUT=str(TIMEOUT), WEBHOOK_RETRY_BACKOFF="600",
                         WEBHOOK_CONCURRENCY="4")
        try:
            for name, url in [*((d, drip.url) for d in drips), ("huge", huge.url), ("healthy", healthy.url)]:
                answer = api.post("/v1/jobs", json=tiny_job(name, callback_url=url))
                assert answer.status_code == 201, answer.text
            before_kb = rss_kb(api.proc.pid)
            sampler = RssSampler(api.proc.pid)
            for name in [*drips, "huge"]:
                assert api.delete(f"/v1/jobs/{name}").status_code == 200
            first_drips = [drip.wait_call(1), drip.wait_call(2)]
            huge_call = huge.wait_call(1)
            queued_at = time.monotonic()
            assert api.delete("/v1/jobs/healthy").status_code == 200
            (request,) = healthy.wait(1, timeout=60)
            # the bad tries were still going when the healthy webhook arrived
            assert all(c["ended"] is None or c["ended"] > request["at"] for c in first_drips)
            assert request["at"] - queued_at < TIMEOUT
            body = verify(request, SECRET)
            assert body["id"] == "healthy" and body["status"] == "cancelled"

            huge.wait_ended(huge_call)
            third = drip.wait_call(3)                      # once one of the first two was cut
            ended = [drip.wait_ended(c) for c in (*first_drips, third)]
            peak_kb = sampler.stop()
            # at most 2 tries to one receiver: the third began once one of the first two was cut
            assert len(drip.calls) == 3
            assert third["started"] - max(c["started"] for c in first_drips) > TIMEOUT / 2
            # the whole-request deadline cut each drip (it sends headers for good otherwise)
            assert all(end - c["started"] < TIMEOUT + 10 for end, c in zip(ended, (*first_drips, third)))
            assert huge_call["sent"] < 64 * MIB            # most of the 256 MiB never asked for
            assert (peak_kb - before_kb) * 1024 < 50 * 1000 * 1000, (before_kb, peak_kb)

            def recorded():
                found = outbox_items(tmp_path)
                return found if all(found.get(d, {}).get("attempts") for d in drips) else None
            items = wait_for(recorded, what="the drips' tries to be recorded")
        finally:
            api.stop()
    assert items["healthy"]["folder"] == "delivered"
    assert items["huge"]["folder"] == "delivered"          # a 200 is an answer, its body aside
    for name in drips:
        assert items[name]["folder"] == "pending" and items[name]["attempts"] == 1
        assert "WEBHOOK_TIMEOUT" in items[name]["last_error"]
