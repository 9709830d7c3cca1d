#!/usr/bin/env python3
"""SPLIT_SCENES: one long job on one worker against the same job split over several workers.

One core per worker stands in for one machine: each worker process (`main_worker.py run`,
JOB_SOURCE=redis, MAX_JOBS=1, MAX_WORKERS=1) is pinned to its own core with `taskset -c`, so
on a 2-core box "one worker" is one one-core machine and "two workers" two of them. The job:
--scenes (24) narrated scenes (Piper; simple pictures with a zoom; crossfades) at --size
(1080x1920), --fps (30), `draft`, --seconds (2.0) each. Every run starts from an empty cache
(one CACHE_DIR for the run's workers: one machine's disk cache) and its own Redis key prefix;
the workers are started and ready before the job is submitted, so the wall time is from the
submission to the finished record (Redis), as a client sees it. The runs alternate
1, N, N, 1 (--rounds times) so a machine that gets busier or quieter touches both alike.

    1 worker    SPLIT_SCENES=0 (the pipeline as it is: pieces encoded while narration goes on)
    N workers   SPLIT_SCENES=3: the coordinator narrates, queues the pieces, all N make them

Before each round, `calibrate`: one x264 encode alone on one core, then one on each core at once;
`capacity` (cores x alone / side by side) is what the cores give pinned processes side by side
(2.0 for two idle one-core machines; less where the cores are shared or busy).

Printed (and --json OUT; figures per worker list the coordinator first): each run's wall seconds, each worker's CPU seconds (its process and the
encoders it ran: what the job cost each "machine", whatever else the cores were doing), the machine's 1-minute load average at its end
(other programs on the same cores make the figures move), the pieces each worker made, the median of
each side and their ratio (N workers / 1 worker; the issue's target: at most 0.6 for two).

    python benchmarks/split_scenes.py [--scenes 24] [--size 1080x1920] [--fps 30] [--seconds 2]
        [--workers 2] [--rounds 1] [--redis-url redis://127.0.0.1:6379/15] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def job(scenes: int, width: int, height: int, fps: int, seconds: float, tag: str) -> dict:
    return {"id": f"long-{tag}", "video": {"width": width, "height": height, "fps": fps, "quality": "draft",
                                           "transition": "crossfade", "transition_duration": 0.5},
            "scenes": [{"duration": seconds, "motion": "zoom_in",
                        "narration_text": f"This is part {i + 1} of the story."} for i in range(scenes)]}


def _env(root: Path, redis_url: str, prefix: str, split: int) -> dict[str, str]:
    from protovideo.runtime.settings import SPECS
    env = {k: v for k, v in os.environ.items() if k not in SPECS}
    env.update(JOB_SOURCE="redis", REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix, SPLIT_SCENES=str(split),
               CACHE_DIR=str(root / "cache"), OUTPUT_DIR=str(root / "output"), REPORT_DIR=str(root / "reports"),
               MAX_JOBS="1", MAX_WORKERS="1", POLL_INTERVAL="0.1", METRICS_PORT="0", LEASE_SECONDS="30",
               PYTHONUNBUFFERED="1")
    return env


def _cpu_s(pid: int) -> float:
    """CPU seconds of a worker process and the children it has reaped (its ffmpeg encoders)."""
    import psutil
    t = psutil.Process(pid).cpu_times()
    return round(t.user + t.system + t.children_user + t.children_system, 2)


def run_once(workers: int, args, redis_url: str, split_on: bool | None = None) -> dict:
    from protovideo.runtime.settings import load_settings
    from protovideo.service.sources.redis_streams import RedisSource
    root = Path(tempfile.mkdtemp(prefix=f"split-bench-{workers}-"))
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    env = _env(root, redis_url, prefix, 3 if (workers > 1 if split_on is None else split_on) else 0)
    cores = sorted(os.sched_getaffinity(0))
    procs = []
    try:
        for n in range(workers):
            folder = root / f"w{n}"
            folder.mkdir()
            own = dict(env, WORK_DIR=str(folder / "work"), LOG_FILE=str(folder / "worker.log"))
            procs.append(subprocess.Popen(["taskset", "-c", str(cores[n % len(cores)]), sys.executable,
                                           str(ROOT / "main_worker.py"), "run"], cwd=folder, env=own,
                                          stdout=open(folder / "out.log", "wb"), stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 120
        while not all((root / f"w{n}" / "worker.log").is_file() and " started (source=redis" in
                      (root / f"w{n}" / "worker.log").read_text() for n in range(workers)):
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
            time.sleep(0.1)
        source = RedisSource(load_settings(env, read_files=False), worker_name="bench")
        data = job(args.scenes, args.width, args.height, args.fps, args.seconds, uuid.uuid4().hex[:6])
        started = time.monotonic()
        source.submit(data)
        while True:
            info = source.get(data["id"])
            if info is not None and info.state.value in ("finished", "failed", "cancelled"):
                break
            time.sleep(0.1)
        wall = time.monotonic() - started
        cpu = {proc.pid: _cpu_s(proc.pid) for proc in procs}
        if info.state.value != "finished":
            raise RuntimeError(f"the job {info.state.value}: {json.dumps(info.record)[:400]}")
        report = json.loads((root / "reports" / f"{data['id']}.json").read_text())
        split = report.get("split") or {}
        coordinator = info.record.get("worker") or ""

        def first(by_name: dict) -> list:   # the coordinator's figure first
            return [by_name[n] for n in sorted(by_name, key=lambda n: n != coordinator)]
        source.close()
        steps = {name: round(step.get("duration", 0.0), 2) for name, step in (report.get("steps") or {}).items()
                 if name in ("tts_synthesis", "render_scene", "render_transition", "audio_mix", "loudness", "mux",
                             "qc", "poster", "provenance")}
        pid = int(coordinator.rsplit("-", 2)[-2]) if coordinator.count("-") >= 2 else 0
        cpu_list = [cpu[p] for p in sorted(cpu, key=lambda p: p != pid)]
        piece_s: dict[str, float] = {}
        for piece in split.get("pieces", ()):
            piece_s[piece["worker"]] = round(piece_s.get(piece["worker"], 0.0) + (piece["seconds"] or 0.0), 2)
        spoken: dict[str, list] = {}
        for said in (split.get("narration") or {}).values():
            spoken.setdefault(said["worker"], []).append(said["seconds"] or 0.0)
        return {"workers": workers, "split": bool(split), "wall_s": round(wall, 2), "cpu_s_by_worker": cpu_list, "load_1min": round(os.getloadavg()[0], 1),
                "video_s": report["video_duration"],
                "pieces": report["pieces"], "by_worker": first(split.get("workers", {})),
                "coordinator_steps_s": steps, "phases_s": split.get("phases_s"), "total_s": report.get("total_time"),
                "piece_s_by_worker": first(piece_s),
                "narration_s_by_worker": first({n: [len(v), round(sum(v), 2)] for n, v in spoken.items()})}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        import redis
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        shutil.rmtree(root, ignore_errors=True)


def calibrate(cores: list[int], frames: int = 120) -> dict:
    """What the machine gives pinned processes side by side: one x264 encode (1080x1920 test
    pattern) alone on the first core, then one on each core at once. Two one-core machines would
    take as long side by side as alone (`capacity` = cores x alone / side by side = the number of
    cores); shared or busy cores give less, and the split's ratio cannot beat 1 / capacity."""
    def encode(core: int) -> subprocess.Popen:
        return subprocess.Popen(["taskset", "-c", str(core), "ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                                 "testsrc2=size=1080x1920:rate=30", "-frames:v", str(frames), "-c:v", "libx264",
                                 "-preset", "veryfast", "-threads", "1", "-f", "null", "-"])
    started = time.monotonic()
    encode(cores[0]).wait()
    alone = time.monotonic() - started
    started = time.monotonic()
    for proc in [encode(core) for core in cores]:
        proc.wait()
    side_by_side = time.monotonic() - started
    return {"alone_s": round(alone, 2), "side_by_side_s": round(side_by_side, 2),
            "capacity": round(len(cores) * alone / side_by_side, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--size", default="1080x1920")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15")
    parser.add_argument("--order", default="", help="the runs of a round as worker counts, e.g. 2 (default 1,N,N,1)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    args.width, args.height = (int(v) for v in args.size.split("x"))
    if shutil.which("taskset") is None:
        print("taskset (util-linux) is needed to pin each worker to its own core", file=sys.stderr)
        return 2
    runs, calibrations = [], []
    for _ in range(args.rounds):
        calibrations.append(calibrate(sorted(os.sched_getaffinity(0))[:args.workers]))
        print(json.dumps({"calibration": calibrations[-1]}), flush=True)
        order = args.order.split(",") if args.order else [1, args.workers, args.workers, 1]
        for item in order:   # "1s": one worker with SPLIT_SCENES on (what splitting itself costs)
            workers = int(str(item).rstrip("s"))
            result = run_once(workers, args, args.redis_url, True if str(item).endswith("s") else None)
            print(json.dumps(result), flush=True)
            runs.append(result)
    one = statistics.median([r["wall_s"] for r in runs if r["workers"] == 1] or [float("nan")])
    many = statistics.median([r["wall_s"] for r in runs if r["workers"] == args.workers] or [float("nan")])
    summary = {"date": time.strftime("%Y-%m-%d"), "scenes": args.scenes, "size": args.size, "fps": args.fps,
               "cores": len(os.sched_getaffinity(0)), "one_worker_s": one, f"{args.workers}_workers_s": many,
               "ratio": round(many / one, 3),
               "capacity": statistics.median(c["capacity"] for c in calibrations), "runs": runs,
               "calibrations": calibrations}
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
