"""Stock photos and clips against a local Pexels/Pixabay stand-in (tests/stock_server.py): real
`render` processes, the video looked at with ffprobe and its decoded frames, the report and the
manifest read back, the key looked for in everything the worker wrote."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import imageio_ffmpeg
import numpy as np
from PIL import Image

from daemon_helpers import ROOT, worker_env
from media import ffprobe, frames
from stock_server import StockServer

W, H, FPS = 160, 284, 12
KEY = "pexels-secret-key-123"
BLUE = (20, 60, 220)


def jpeg(color, size=(320, 568)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", quality=95)
    return out.getvalue()


def mp4(tmp_path, name: str, seconds: float, color: str) -> bytes:
    path = tmp_path / name
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    f"color=c={color}:s=320x568:r={FPS}:d={seconds}", "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", "-y", str(path)], check=True)
    return path.read_bytes()


def job(job_id: str, scenes: list[dict], **top) -> dict:
    return {"id": job_id, "video": {"width": W, "height": H, "fps": FPS, "transition": "cut",
                                    "quality": "draft"}, "scenes": scenes, **top}


def render(tmp_path, server, data: dict, **env):
    (tmp_path / f"{data['id']}.json").write_text(json.dumps(data))
    env = worker_env(tmp_path, **{"ALLOW_PRIVATE_URLS": "true", "PEXELS_API_URL": server.url + "/pexels",
                                  "PIXABAY_API_URL": server.url + "/pixabay", "PEXELS_API_KEY": KEY,
                                  "PIXABAY_API_KEY": KEY, **env})
    done = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "render", f"{data['id']}.json",
                           "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    return done


def test_a_stock_photo_scene_shows_the_found_picture_with_its_credit(tmp_path):
    files = {"red.jpg": jpeg((220, 30, 30), (568, 320)), "blue.jpg": jpeg(BLUE)}
    photos = [{"name": "red", "width": 568, "height": 320, "author": "Landscaper"},   # wrong orientation
              {"name": "blue", "width": 320, "height": 568, "author": "Ana"}]
    photos = [dict(p, name=p["name"] + ".jpg") for p in photos]
    with StockServer(files, photos=photos, key=KEY) as server:
        data = job("stocked", [{"stock": "blue {{thing}}", "duration": 1, "motion": "none"}],
                   variables={"thing": "sky"})
        first = render(tmp_path, server, data)
        assert first.returncode == 0, first.stderr[-3000:]
        searches = len(server.searches)
        again = render(tmp_path, server, dict(data, id="stocked-again"))
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(server.searches) == searches == 1          # the second render used the cached choice
        (search,) = server.searches
    assert search["path"] == "/pexels/v1/search" and search["headers"]["authorization"] == KEY
    assert search["query"]["query"] == "blue sky" and search["query"]["orientation"] == "portrait"
    video = tmp_path / "var" / "output" / "stocked.mp4"
    pixels = frames(video, W, H)
    middle = pixels[len(pixels) // 2][H // 4: 3 * H // 4, W // 4: 3 * W // 4].reshape(-1, 3).mean(axis=0)
    assert np.abs(middle - np.array(BLUE)).max() < 25, middle     # the portrait (blue) photo was chosen
    report = json.loads((tmp_path / "var" / "reports" / "stocked.json").read_text())
    (credit,) = report["stock"]
    assert credit["provider"] == "pexels" and credit["author"] == "Ana"
    assert credit["page_url"] == "https://www.pexels.com/photo/blue.jpg-1001/"
    assert "Pexels License" in credit["licence"]
    manifest = json.loads((tmp_path / "var" / "output" / "stocked.manifest.json").read_text())
    (entry,) = [i for i in manifest["inputs"] if i["field"] == "scenes[0].stock"]
    import hashlib
    assert entry["sha256"] == hashlib.sha256(files["blue.jpg"]).hexdigest()
    assert entry["author"] == "Ana" and "Pexels License" in entry["licence"]
    assert not manifest["generated_pictures"]            # a stock photo is no generated picture
    for path in [*tmp_path.rglob("*.json"), *tmp_path.rglob("*.log"), *tmp_path.rglob("*.out")]:
        if path.name not in ("stocked.json", "stocked-again.json") or path.parent != tmp_path:
            assert KEY not in path.read_text(errors="replace"), path


def test_a_clip_too_short_is_passed_over_and_looped_when_it_is_all_there_is(tmp_path):
    files = {"short.mp4": mp4(tmp_path, "short.mp4", 0.5, "red"), "long.mp4": mp4(tmp_path, "long.mp4", 3, "green")}
    clips = [{"name": "short.mp4", "width": 320, "height": 568, "duration": 0.5, "author": "Quick"},
             {"name": "long.mp4", "width": 320, "height": 568, "duration": 3, "author": "Slow"}]
    with StockServer(files, videos=clips, key=KEY) as server:
        chosen = render(tmp_path, server, job("clip-long", [{"stock": "waves", "duration": 2}],
                                              stock={"provider": "pixabay", "kind": "video"}),
                        LOG_LEVEL="debug")     # urllib3 logs each request line (Pixabay's key is in it)
        assert chosen.returncode == 0, chosen.stderr[-3000:]
        assert KEY not in chosen.stderr + chosen.stdout
        logged = (tmp_path / "worker.log").read_text()
        assert "GET /pixabay/videos/?key=***&q=waves" in logged and KEY not in logged   # logged, redacted
        server.videos = clips[:1]
        looped = render(tmp_path, server, job("clip-short", [{"type": "video", "duration": 2,
                                                              "stock": {"query": "ripples", "provider": "pixabay"}}]))
        assert looped.returncode == 0, looped.stderr[-3000:]
        assert server.searches[0]["path"] == "/pixabay/videos/" and server.searches[0]["query"]["key"] == KEY
    long_report = json.loads((tmp_path / "var" / "reports" / "clip-long.json").read_text())
    assert long_report["stock"][0]["author"] == "Slow" and long_report["stock"][0]["duration"] == 3
    short_report = json.loads((tmp_path / "var" / "reports" / "clip-short.json").read_text())
    assert short_report["stock"][0]["author"] == "Quick"
    logs = [p for p in tmp_path.rglob("*.log")]
    assert logs and not [p for p in logs if KEY in p.read_text(errors="replace")]
    for name, color in (("clip-long", (0, 128, 0)), ("clip-short", (255, 0, 0))):
        video = tmp_path / "var" / "output" / f"{name}.mp4"
        assert abs(float(ffprobe(video)["format"]["duration"]) - 2.0) < 0.2
        last = frames(video, W, H)[-2].reshape(-1, 3).mean(axis=0)   # 1.8 s in: the short clip looped
        assert np.abs(last - np.array(color)).max() < 40, (name, last)


def test_without_a_key_the_error_names_the_setting(tmp_path):
    with StockServer({}, key=KEY) as server:
        done = render(tmp_path, server, job("no-key", [{"stock": "cats", "duration": 1}]), PEXELS_API_KEY="")
        wrong = render(tmp_path, server, job("bad-key", [{"stock": "cats", "duration": 1}]),
                       PEXELS_API_KEY="not-the-key")
    assert done.returncode == 1 and "PEXELS_API_KEY" in done.stderr, done.stderr[-2000:]
    assert wrong.returncode == 1 and "refused the key" in wrong.stderr and "PEXELS_API_KEY" in wrong.stderr
    assert "not-the-key" not in wrong.stderr + wrong.stdout
