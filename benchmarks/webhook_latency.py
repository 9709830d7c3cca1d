"""Webhook delivery latency to a healthy receiver while a bad one is in flight.

    python benchmarks/webhook_latency.py [--count 10] [--cap 30] [--timeout 10] [--phases alone,drip,huge]

This process delivers (start_delivery, the spool's file outbox in a fresh folder) to real
receivers on 127.0.0.1 (tests/webhook_receiver.py, tests/bad_receivers.py). Three phases:

  alone    the healthy receiver's webhooks, one after another (each queued once the last came)
  drip     the same while a receiver that sends one header line a second is being tried
  huge     one webhook to a receiver answering a 256 MiB body: this process's peak RSS
           growth (VmHWM, reset first) and the healthy latency while it is in flight

Latency: from job_ended() (the delivery queued) to the request's arrival at the receiver.
A webhook not there within --cap seconds ends its phase ("none within cap"). Runs on any
checkout that has start_delivery/job_ended, so the same script measures before and after.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bad_receivers import DripReceiver, HugeReceiver  # noqa: E402
from folders import folder_env  # noqa: E402
from protovideo.runtime.settings import SPECS, load_settings  # noqa: E402
from protovideo.service import webhooks  # noqa: E402
from webhook_receiver import Receiver  # noqa: E402


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def healthy_latencies(settings, rx: Receiver, count: int, cap: float, tag: str) -> list[float]:
    out = []
    for n in range(count):
        seen = rx.count()
        queued = time.monotonic()
        webhooks.job_ended(settings, {"id": f"{tag}-{n}", "status": "done"}, {"callback_url": rx.url})
        while rx.count() <= seen and time.monotonic() - queued < cap:
            time.sleep(0.005)
        if rx.count() <= seen:
            break
        out.append(rx.requests[seen]["at"] - queued)
    return out


def line(name: str, values: list[float], count: int, cap: float) -> str:
    if not values:
        return f"{name:6s} none of {count} within {cap:g} s"
    ms = sorted(v * 1000 for v in values)
    return (f"{name:6s} {len(values)}/{count} delivered: median {statistics.median(ms):.0f} ms, "
            f"max {ms[-1]:.0f} ms")


def phase_alone(settings, args, rx, drip, huge) -> None:
    alone = healthy_latencies(settings, rx, args.count, args.cap, "alone")
    print(line("alone", alone, args.count, args.cap), flush=True)


def phase_drip(settings, args, rx, drip, huge) -> None:
    webhooks.job_ended(settings, {"id": "drip", "status": "done"}, {"callback_url": drip.url})
    drip_call = drip.wait_call(1, timeout=args.cap)
    dripping = healthy_latencies(settings, rx, args.count, args.cap, "drip")
    still = drip_call["ended"] is None
    print(line("drip", dripping, args.count, args.cap) +
          f" (the drip {'still' if still else 'no longer'} in flight at the end)", flush=True)


def phase_huge(settings, args, rx, drip, huge) -> None:
    rss_before = status_kb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    webhooks.job_ended(settings, {"id": "huge", "status": "done"}, {"callback_url": huge.url})
    huge_call = huge.wait_call(len(huge.calls) + 1, timeout=args.cap)
    during = healthy_latencies(settings, rx, args.count, args.cap, "huge")
    deadline = time.monotonic() + args.cap
    while huge_call["ended"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    growth_mb = (status_kb("VmHWM") - rss_before) / 1024
    print(line("huge", during, args.count, args.cap) +
          f"; peak RSS growth {growth_mb:.0f} MiB, {huge_call['sent'] / 2**20:.0f} MiB of the "
          "answer sent", flush=True)


PHASES = {"alone": phase_alone, "drip": phase_drip, "huge": phase_huge}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--cap", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=10.0, help="WEBHOOK_TIMEOUT")
    parser.add_argument("--phases", default="alone,drip,huge",
                        help="which phases, in this order (before the fix a drip holds every later one)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="webhook-bench-"))
    env = {k: v for k, v in os.environ.items() if k not in SPECS}
    env.update(folder_env(tmp), ALLOW_PRIVATE_URLS="true", WEBHOOK_TIMEOUT=str(args.timeout),
               WEBHOOK_RETRY_BACKOFF="3600", POLL_INTERVAL="0.5")
    settings = load_settings(env, read_files=False)
    webhooks.start_delivery(settings)
    with Receiver() as rx, DripReceiver() as drip, HugeReceiver() as huge:
        for phase in args.phases.split(","):
            PHASES[phase](settings, args, rx, drip, huge)
    os._exit(0)   # a try still stuck on the drip (before the fix) would hold the exit


if __name__ == "__main__":
    raise SystemExit(main())
