"""Helpers for the bad/hostile input tests: media files made on the spot, a
local HTTP listener that counts every request, and a file-tree snapshot."""
from __future__ import annotations

import gzip
import http.server
import io
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "bad_jobs"


def ffmpeg() -> str:
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


def _ff(*args: str) -> None:
    subprocess.run([ffmpeg(), "-v", "error", "-y", *args], check=True, stdin=subprocess.DEVNULL)


def png_bytes(size=(16, 16), color="red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def make_assets(folder: Path, outside: Path) -> None:
    """The small asset files the corpus jobs refer to (made here, not committed)."""
    folder.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    ok = png_bytes((32, 56), "teal")
    (folder / "ok.png").write_bytes(ok)
    (folder / "text.png").write_text("<html><body>I am not a picture</body></html>\n")
    (folder / "empty.png").write_bytes(b"")
    (folder / "corrupt.png").write_bytes(ok[:16] + bytes(range(256)) * 4)
    noisy = _noisy_png()
    (folder / "truncated.png").write_bytes(noisy[: len(noisy) // 2])
    Image.new("1", (10_000, 10_000)).save(folder / "bomb.png")  # 100 Mpx, ~12 kB
    _ff("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(folder / "ok.wav"))
    _ff("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "libmp3lame",
        str(folder / "full.mp3"))
    data = (folder / "full.mp3").read_bytes()
    (folder / "truncated.mp3").write_bytes(data[: len(data) // 3])
    _ff("-f", "lavfi", "-i", "testsrc2=s=160x284:r=12:d=1", "-c:v", "libx264", "-pix_fmt",
        "yuv420p", "-g", "4", "-movflags", "+faststart", str(folder / "ok.mp4"))
    _ff("-f", "lavfi", "-i", "testsrc2=s=160x284:r=12:d=2", "-c:v", "libx264", "-pix_fmt",
        "yuv420p", "-g", "4", "-movflags", "+faststart", str(folder / "full.mp4"))
    data = (folder / "full.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    _ff("-f", "lavfi", "-i", "color=c=blue:s=16x16:r=1:d=3700", "-c:v", "libx264",
        "-preset", "ultrafast", "-g", "100000", str(folder / "long.mp4"))
    _ff("-f", "lavfi", "-i", "color=c=blue:s=4112x4096:r=1:d=1", "-c:v", "mjpeg",
        "-q:v", "31", str(folder / "huge.avi"))
    (folder / "playlist.mp4").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n"
                                         "file:///etc/passwd\n#EXT-X-ENDLIST\n")
    (outside / "secret.png").write_bytes(ok)
    os.symlink(outside / "secret.png", folder / "link_out.png")
    os.symlink(folder / "ok.png", folder / "link_in.png")
    os.symlink(outside, folder / "outdir")


_NOISY: bytes | None = None


def _noisy_png() -> bytes:
    global _NOISY
    if _NOISY is None:
        buf = io.BytesIO()
        Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3)).save(buf, "PNG")
        _NOISY = buf.getvalue()
    return _NOISY


def corpus_jobs() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*.json") if p.name != "expected.json")


def expectations() -> dict:
    return json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def install_corpus(dest: Path, listener: str, outside: Path) -> dict[str, Path]:
    """Copy the corpus into dest with {LISTENER}/{OUTSIDE} filled in; make assets
    and the generated jobs (too large to commit). Returns name -> job file."""
    make_assets(dest, outside)
    jobs = {}
    for src in corpus_jobs():
        data = src.read_bytes()
        port = listener.rsplit(":", 1)[-1]
        data = data.replace(b"{LISTENER}", listener.encode()).replace(
            b"{LISTENER_PORT}", port.encode()).replace(
            b"{OUTSIDE}", str(outside).encode())
        (dest / src.name).write_bytes(data)
        jobs[src.name] = dest / src.name
    big = dest / "gen_json_too_big.json"
    filler = "x" * 1000
    big.write_text(json.dumps({"scenes": [{"duration": 1, "text": filler}] * 2100}))
    jobs[big.name] = big
    return jobs


# ---------------------------------------------------------------- listener
class Listener:
    """An HTTP server on 127.x.x.x that counts requests and serves fixed routes."""

    def __init__(self, host: str = "127.0.0.1"):
        self.hits: list[str] = []
        self.routes: dict[str, tuple] = {}
        self.png = png_bytes((24, 24), "orange")
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                owner.hits.append(self.path)
                owner.serve(self)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.host = host
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def serve(self, handler) -> None:
        path = handler.path.split("?")[0]
        route = self.routes.get(path)
        if route is None:
            if path.endswith(".png"):
                route = (200, {"Content-Type": "image/png"}, self.png)
            else:
                route = (404, {}, b"not here")
        if callable(route):
            route = route(len([h for h in self.hits if h.split("?")[0] == path]))
        status, headers, body = route[:3]
        delay = route[3] if len(route) > 3 else 0
        stream = route[4] if len(route) > 4 else False
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        if not stream:
            handler.send_header("Content-Length", str(len(body)))
        else:
            handler.send_header("Connection", "close")
        handler.end_headers()
        if delay:
            time.sleep(delay)
        try:
            if stream:
                for start in range(0, len(body), 65536):
                    handler.wfile.write(body[start:start + 65536])
            else:
                handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if stream:
            handler.close_connection = True


def gzip_bomb(megabytes: int) -> bytes:
    return gzip.compress(b"\0" * (megabytes * 1024 * 1024))


# ---------------------------------------------------------------- snapshots
def tree(folder: Path, skip: tuple[str, ...] = ()) -> set[str]:
    """Relative paths of the files under folder, leaving out the skipped top-level names."""
    found = set()
    if not folder.exists():
        return found
    for dirpath, dirnames, filenames in os.walk(folder):
        rel_dir = Path(dirpath).relative_to(folder)
        if rel_dir.parts and rel_dir.parts[0] in skip:
            continue
        dirnames[:] = [d for d in dirnames if not (not rel_dir.parts and d in skip)]
        for name in filenames:
            found.add(str(rel_dir / name))
    return found


def repo_tree() -> set[str]:
    skip = (".git", ".pytest_cache", ".hypothesis", "var", "worker.log")
    return {p for p in tree(ROOT, skip) if "__pycache__" not in p}


def worker_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Environment for a worker subprocess with every folder inside tmp."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CACHE_", "SPOOL_", "OUTPUT_"))}
    private_tmp = tmp / "systmp"
    private_tmp.mkdir(exist_ok=True)
    env.update({
        "CACHE_DIR": str(tmp / "var" / "cache"), "SPOOL_DIR": str(tmp / "var" / "spool"),
        "OUTPUT_DIR": str(tmp / "var" / "output"), "REPORT_DIR": str(tmp / "var" / "reports"),
        "WORK_DIR": str(tmp / "var" / "work"), "LOG_FILE": str(tmp / "var" / "worker.log"),
        "ASSET_ROOT": str(tmp / "assets"), "MAX_WORKERS": "2", "JOB_SOURCE": "spool",
        "ALLOW_PRIVATE_URLS": "false", "TMPDIR": str(private_tmp), "POLL_INTERVAL": "0.2",
        "PYTHONPATH": str(ROOT),
    })
    env.update(extra)
    return env


def copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, symlinks=True)
