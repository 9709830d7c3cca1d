"""A batch through the command line with real renders: `submit TEMPLATE --rows ROWS.csv`,
`run --once` (main_worker.py, the real pipeline), `batch BATCH_ID --json`; the videos are looked at
with ffprobe. Row 2's picture is a URL that answers 404, so that job fails and the others do not."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from daemon_helpers import ROOT, worker_env
from media import ffprobe, streams


def cli(tmp_path, env, *args, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "main_worker.py"), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


class NotFound(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


TEMPLATE = {
    "video": {"width": 160, "height": 284, "fps": 12, "transition": "cut", "quality": "draft"},
    "output_filename": "city-{{city}}.mp4",
    "scenes": [{"duration": 1, "motion": "none", "image": "{{picture}}",
                "text": {"content": "Hello {{city}}", "fontsize": 20}}],
}


def test_a_csv_batch_renders_each_row_and_reports_the_failing_one(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from PIL import Image
    Image.new("RGB", (64, 64), (200, 40, 40)).save(tmp_path / "red.png")
    (tmp_path / "template.json").write_text(json.dumps(TEMPLATE))
    missing = f"http://127.0.0.1:{server.server_address[1]}/gone.png"
    (tmp_path / "rows.csv").write_text(f"city,picture\nOslo,red.png\nLima,{missing}\nRome,red.png\n")
    (tmp_path / "bad.csv").write_text("city\nOslo\n")          # no picture: refused, nothing queued
    env = worker_env(tmp_path, ALLOW_PRIVATE_URLS="true", MAX_ATTEMPTS="1")
    try:
        refused = cli(tmp_path, env, "submit", "template.json", "--rows", "bad.csv")
        assert refused.returncode == 2, refused.stderr
        assert "row 1: scenes[0].image:" in refused.stderr and "{{picture}}" in refused.stderr
        assert not (tmp_path / "var" / "spool" / "incoming").is_dir() or \
            not list((tmp_path / "var" / "spool" / "incoming").iterdir())
        submitted = cli(tmp_path, env, "submit", "template.json", "--rows", "rows.csv")
        assert submitted.returncode == 0, submitted.stderr
        batch_id = submitted.stdout.strip()
        queued = json.loads(cli(tmp_path, env, "batch", batch_id, "--json").stdout)
        ran = cli(tmp_path, env, "run", "--once")
        assert ran.returncode == 1, ran.stdout + ran.stderr     # one job failed
        view = json.loads(cli(tmp_path, env, "batch", batch_id, "--json").stdout)
        text = cli(tmp_path, env, "batch", batch_id)
    finally:
        server.shutdown()
    assert queued["state"] == "queued" and queued["counts"]["queued"] == 3
    assert view["state"] == "ended"
    assert {j["id"]: j["state"] for j in view["jobs"]} == {
        f"{batch_id}-1": "finished", f"{batch_id}-2": "failed", f"{batch_id}-3": "finished"}
    assert "404" in view["jobs"][1]["error"]["message"]
    assert f"batch {batch_id}: ended (2 finished, 1 failed)" in text.stdout
    for city in ("Oslo", "Rome"):
        info = ffprobe(tmp_path / "var" / "output" / f"city-{city}.mp4")
        (video,) = streams(info, "video")
        assert (video["width"], video["height"]) == (160, 284)
        assert abs(float(info["format"]["duration"]) - 1.0) < 0.3
    assert not (tmp_path / "var" / "output" / "city-Lima.mp4").exists()
