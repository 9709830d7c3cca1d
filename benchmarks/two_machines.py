"""Two machines on one S3 store: B's cold render of a job A rendered, against A's cold render.

    python benchmarks/two_machines.py [--scenes 3] [--seconds 2] [--size 540x960]

Starts a fresh radosgw cluster (scripts/s3_server.sh) in a temp folder, then renders in this
process, with the real pipeline and the default providers (Piper voice, simple pictures):
  A  cold: its own empty CACHE_DIR, OUTPUT_STORE and CACHE_STORE on the cluster
  B  cold: another empty CACHE_DIR/OUTPUT_DIR/WORK_DIR, the same job under a new id: copies
     narration, pictures and pieces from the shared level
  B' one scene's text changed (B's cache now warm): the pieces it makes anew
Prints one JSON object: wall seconds, B/A ratio, hit rates and levels, the steps that made
something, whether B's video is A's bytes. Stops every daemon at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from folders import folder_env  # noqa: E402
from s3_server import S3Server  # noqa: E402

MADE = ("tts", "tts_synthesis", "image_generation", "simple_background", "render_scene",
        "render_transition", "audio_mix", "mux", "poster")


def job(job_id: str, scenes: int, seconds: float, size: tuple[int, int], changed: int | None = None) -> dict:
    return {"id": job_id, "video": {"width": size[0], "height": size[1], "fps": 24, "quality": "draft"},
            "scenes": [{"duration": seconds, "promptImage": f"a calm sea number {n}",
                        "narration_text": f"Scene {n} says {'something new' if n == changed else 'its own line'}."}
                       for n in range(scenes)]}


def render(name: str, folder: Path, data: dict, stores: dict) -> dict:
    from protovideo.pipeline.render import make_context, render_job
    from protovideo.runtime.settings import load_settings
    from job_parsing import parse_job
    settings = load_settings({**folder_env(folder / name), **stores}, cwd=folder, read_files=False)
    start = time.perf_counter()
    result = render_job(parse_job(data, base_dir=folder), make_context(settings))
    wall = time.perf_counter() - start
    report = json.loads(Path(result.report_path).read_text())
    stats = report["cache_stats"]
    return {"wall_s": round(wall, 2), "hit_rate": stats["hit_rate"], "hits": stats["hits"],
            "misses": stats["misses"], "by_level": stats.get("by_level"),
            "made": {s: report["steps"][s]["count"] for s in MADE if s in report["steps"]},
            "output": result.output}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--size", default="540x960")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    import storage  # noqa: F401  (the sinks and the S3 cache level)
    from generators.plugins import load_all
    load_all()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server = S3Server.start(folder / "cluster", ("outputs", "cache"))
        try:
            os.environ.update({**server.env, "AWS_CONFIG_FILE": "/nonexistent",
                               "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"})
            tag = uuid.uuid4().hex[:6]
            stores = {"OUTPUT_STORE": f"s3://outputs/{tag}", "CACHE_STORE": f"s3://cache/{tag}"}
            a = render("a", folder, job("bench-a", args.scenes, args.seconds, size), stores)
            b = render("b", folder, job("bench-b", args.scenes, args.seconds, size), stores)
            changed = render("b", folder, job("bench-c", args.scenes, args.seconds, size, changed=1), stores)
            client = server.client()
            same = all(client.head_object(Bucket="outputs", Key=f"{tag}/{j}/{j}.mp4")["Metadata"]["sha256"]
                       == client.head_object(Bucket="outputs", Key=f"{tag}/bench-a/bench-a.mp4")["Metadata"]["sha256"]
                       for j in ("bench-b",))
        finally:
            server.stop()
    print(json.dumps({"scenes": args.scenes, "seconds_each": args.seconds, "size": args.size,
                      "a_cold": a, "b_from_shared": b, "b_over_a": round(b["wall_s"] / a["wall_s"], 3),
                      "b_same_bytes_as_a": same, "one_scene_changed": changed}, indent=2))


if __name__ == "__main__":
    main()
