"""Object storage: the test S3 server's bring-up time and memory, and publish throughput.

    python benchmarks/storage_s3.py [--size-mb 50] [--rounds 3]

Starts a fresh radosgw cluster (scripts/s3_server.sh) in a temp folder, timing `start` and
reading the daemons' RSS (ceph-mon, ceph-osd, radosgw) after it; then publishes a file of
random bytes through the S3 sink (after one small object: the first makes radosgw's data pool,
about 2 s), alternating a single PUT (multipart threshold above the size)
and a multipart upload (8 MB parts, 4 at once), each round under a new name, and reads it back
once. A publish includes its SHA-256 (timed alone as sha256_s), the claim and the
confirming HEAD. Prints one JSON object; stops every daemon at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from s3_server import S3Server  # noqa: E402
from storage.address import parse_store_url  # noqa: E402
from storage.s3_sink import S3Sink  # noqa: E402
from storage.sinks import file_sha256  # noqa: E402

MB = 1 << 20


def daemon_rss_mb(folder: Path) -> dict[str, float]:
    rss = {}
    for pidfile in sorted((folder / "run").glob("*.pid")):
        status = Path(f"/proc/{pidfile.read_text().strip()}/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        rss[pidfile.stem] = round(kb / 1024, 1)
    return rss


def timed_publish(sink: S3Sink, name: str, source: Path) -> float:
    start = time.perf_counter()
    sink.publish("bench", name, source)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cluster"
        start = time.perf_counter()
        server = S3Server.start(folder, ("outputs",))
        bring_up = time.perf_counter() - start
        try:
            idle = daemon_rss_mb(folder)
            os.environ.update(server.env)
            source = Path(tmp) / "video.bin"
            source.write_bytes(os.urandom(args.size_mb * MB))
            address = parse_store_url("s3://outputs/bench")
            single = S3Sink(address, 600, multipart_threshold=4096 * MB)
            multi = S3Sink(address, 600, multipart_threshold=8 * MB, part_size=8 * MB)
            warm = Path(tmp) / "warm.bin"
            warm.write_bytes(b"first object: radosgw makes its data pool now")
            single.publish("bench", "warm", warm)
            start = time.perf_counter()
            file_sha256(source)
            hash_s = time.perf_counter() - start
            times: dict[str, list[float]] = {"single_put": [], "multipart": []}
            for n in range(args.rounds):
                times["single_put"].append(timed_publish(single, f"single-{n}.mp4", source))
                times["multipart"].append(timed_publish(multi, f"multi-{n}.mp4", source))
            start = time.perf_counter()
            with single.open("bench", "single-0.mp4") as body:
                read = len(body.read())
            read_s = time.perf_counter() - start
            loaded = daemon_rss_mb(folder)
        finally:
            server.stop()
    result = {
        "bring_up_s": round(bring_up, 2), "rss_mb_idle": idle, "rss_mb_idle_total": round(sum(idle.values()), 1),
        "size_mb": args.size_mb,
        "publish_s": {k: [round(t, 2) for t in v] for k, v in times.items()},
        "publish_mb_per_s_median": {k: round(args.size_mb / statistics.median(v), 1) for k, v in times.items()},
        "read_mb_per_s": round(read / MB / read_s, 1), "sha256_s": round(hash_s, 2),
        "rss_mb_after": loaded, "stored_mb": args.size_mb * 2 * args.rounds,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
