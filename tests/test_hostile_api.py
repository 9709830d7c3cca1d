"""The job API under hostile and careless clients (issue 22), against the real server in its own
process: an upload without credentials is refused before its body is read; 100 `/generate` calls
waiting or abandoned leave the API answering; odd names answer 4xx; uploads are named by the
SHA-256 of their bytes with the detected type's extension and never overwrite other bytes."""
from __future__ import annotations

import hashlib
import io
import json
import math
import socket
import struct
import time
import wave

import pytest
import requests

from api_helpers import ApiProcess, send_generate
from daemon_helpers import start_worker, stop, wait_for, worker_env
from hostile_helpers import png_bytes

TOKEN = "hostile-api-token-71ce"
VIDEO = {"width": 160, "height": 284, "fps": 12, "transition": "cut", "quality": "draft"}


def folder_bytes(*folders) -> int:
    return sum(f.stat().st_size for folder in folders if folder.exists()
               for f in folder.rglob("*") if f.is_file())


def wav_bytes(seconds: float = 0.5) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 8)))
                                 for i in range(int(16000 * seconds))))
    return buf.getvalue()


# ---------------------------------------------------------------- no credentials, no body
@pytest.fixture
def keyed(tmp_path):
    (tmp_path / "tmp").mkdir()
    server = ApiProcess(tmp_path, "serve", token=TOKEN, TMPDIR=str(tmp_path / "tmp"), MAX_DOWNLOAD_MB="150")
    server.folder = tmp_path
    yield server
    server.stop()


def _upload_head(port: int, extra: str) -> bytes:
    return (f"POST /v1/assets HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary=B0UND\r\n{extra}\r\n"
            '--B0UND\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n").encode()


def _drip(sock: socket.socket, megabytes: int, chunked: bool) -> bytes:
    """Send `megabytes` of body slowly (64 KB a step), collecting whatever the server answers."""
    answer = b""
    piece = b"\x89" * 65536
    if chunked:
        piece = b"%x\r\n%s\r\n" % (len(piece), piece)
    sock.settimeout(0.01)
    for _ in range(megabytes * 16):
        try:
            sock.sendall(piece)
        except OSError:
            break              # the server closed the connection: fine, nothing more is read
        try:
            answer += sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            pass
        time.sleep(0.005)
    sock.settimeout(30)
    try:
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    except OSError:
        pass
    return answer


@pytest.mark.parametrize("framing", ["declared", "chunked"])
def test_an_upload_without_a_token_is_refused_before_its_body_is_read(keyed, framing):
    watched = (keyed.folder / "assets", keyed.folder / "tmp", keyed.folder / "var")
    before = folder_bytes(*watched)
    extra = f"Content-Length: {150 << 20}\r\n" if framing == "declared" else "Transfer-Encoding: chunked\r\n"
    with socket.create_connection(("127.0.0.1", keyed.port), timeout=30) as sock:
        head = _upload_head(keyed.port, extra)
        if framing == "chunked":   # the multipart preamble is the first chunk
            split = head.index(b"\r\n\r\n") + 4
            head = head[:split] + b"%x\r\n%s\r\n" % (len(head) - split, head[split:])
        sock.sendall(head)
        answer = _drip(sock, 16, framing == "chunked")                   # 16 MB of a 150 MB upload, no credentials
        grown = folder_bytes(*watched) - before
    assert grown < 1 << 20, f"{grown} bytes reached the server's disk without a token"
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert keyed.get("/health").status_code == 200


def test_an_oversized_chunked_upload_with_the_token_is_cut_off(tmp_path):
    (tmp_path / "tmp").mkdir()
    server = ApiProcess(tmp_path, "serve", token=TOKEN, TMPDIR=str(tmp_path / "tmp"), MAX_DOWNLOAD_MB="2")
    try:
        def chunks():
            yield (b'--B0UND\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
                   b"Content-Type: image/png\r\n\r\n")
            for _ in range(80):
                yield b"\x89" * 65536                # 5 MB of a 2 MB limit
        answer = requests.post(server.url + "/v1/assets", data=chunks(), timeout=120, headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "multipart/form-data; boundary=B0UND"})
        assert answer.status_code == 413 and "limit" in answer.json()["detail"]
        assert server.get("/health").status_code == 200
        wait_for(lambda: folder_bytes(tmp_path / "tmp", tmp_path / "assets") == 0, timeout=60,
                 what="the partial upload to be removed")
    finally:
        server.stop()


# ---------------------------------------------------------------- /generate under load
def _read_answer(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(body)


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_100_generate_calls_waiting_or_abandoned_leave_the_api_answering(tmp_path):
    api = ApiProcess(tmp_path, "serve", token=TOKEN)           # no worker yet: every call waits
    worker = None
    calls = []
    try:
        calls = [send_generate(api.port, TOKEN, VIDEO) for _ in range(100)]
        wait_for(lambda: sum(api.get("/v1/queue").json()["queued"].values()) == 100, timeout=180,
                 interval=0.5, what="the 100 /generate jobs to be queued")
        for sock in calls[:50]:                                 # 50 clients give up
            sock.close()
        waiting = calls[50:]
        some_job = api.get("/v1/jobs", params={"limit": 1}).json()["jobs"][0]["id"]
        for _ in range(5):    # each answer must come (a bounded deadline, not a speed target)
            assert api.get("/health", timeout=30).status_code == 200
            assert api.get(f"/v1/jobs/{some_job}", timeout=30).json()["state"] == "queued"
            assert api.get("/v1/queue", timeout=30).status_code == 200
        wait_for(lambda: api.log.read_text().count("the client left before job") == 50, timeout=120,
                 interval=0.5, what="the 50 abandoned calls to stop waiting")
        worker = start_worker(tmp_path, worker_env(tmp_path), fake=True)
        answers = [_read_answer(sock) for sock in waiting]
        assert [status for status, _ in answers] == [200] * 50, answers[:3]
        def finished():
            jobs = api.get("/v1/jobs", params={"limit": 200}).json()["jobs"]
            return jobs if [j["state"] for j in jobs] == ["finished"] * 100 else None
        jobs = wait_for(finished, timeout=180, interval=0.5, what="all 100 jobs to finish")
        answered = {body["job_id"] for _, body in answers}
        abandoned = [j for j in jobs if j["id"] not in answered]
        assert len(answered) == 50 and len(abandoned) == 50
        for job in abandoned[:5]:       # the jobs went on and stay downloadable
            download = api.get(job["links"]["download"])
            assert download.status_code == 200 and download.content == f"video of {job['id']}\n".encode()
    finally:
        for sock in calls:
            sock.close()
        if worker is not None:
            stop(worker)
        api.stop()


# ---------------------------------------------------------------- odd names and the log
ODD_PATHS = ["/download/a%00.mp4", "/download/" + "x" * 300 + ".mp4", "/download/a%0d%0aPERF%20forged.mp4",
             "/download/%ff%fe.mp4", "/download/..%2f..%2fetc%2fpasswd.mp4", "/v1/jobs/a%00b",
             "/v1/jobs/a%00/video", "/v1/jobs/" + "y" * 300 + "/poster.jpg", "/task-status/a%00",
             "/static/a%00.js", "/static/" + "z" * 300, "/v1/jobs/%0a%0dPERF/report"]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_odd_paths_answer_4xx_and_the_log_stays_text(tmp_path, log_format):
    api = ApiProcess(tmp_path, "serve", token=TOKEN, LOG_LEVEL="debug", LOG_FORMAT=log_format)
    try:
        for path in ODD_PATHS:
            answer = api.get(path)
            assert answer.status_code in (400, 404), (path, answer.status_code, answer.text[:200])
        api.post("/v1/jobs", data=b'{"id": "x\\u0000y\\r\\nPERF forged"}',
                 headers=api.headers(**{"Content-Type": "application/json"}))
    finally:
        api.stop()
    raw = (tmp_path / "worker.log").read_bytes()
    assert b"\x00" not in raw and b"\r" not in raw
    assert not any(line.lstrip().startswith(b"PERF forged") for line in raw.split(b"\n"))
    raw.decode("utf-8")                     # and it is UTF-8 text


# ---------------------------------------------------------------- uploads by content
def test_uploads_are_named_by_sha256_with_the_detected_type(keyed):
    sound = wav_bytes()
    answer = keyed.post("/v1/assets", files={"file": ("x.html", sound, "text/html")})
    assert answer.status_code == 201, answer.text
    digest = hashlib.sha256(sound).hexdigest()
    assert answer.json()["path"] == f"uploads/{digest}.wav" and answer.json()["sha256"] == digest
    stored = keyed.folder / "assets" / "uploads" / f"{digest}.wav"
    assert stored.read_bytes() == sound
    picture = png_bytes()
    named_mp3 = keyed.post("/v1/assets", files={"file": ("song.mp3", picture, "audio/mpeg")}).json()
    assert named_mp3["path"] == f"uploads/{hashlib.sha256(picture).hexdigest()}.png"
    inode = stored.stat().st_ino
    again = keyed.post("/v1/assets", files={"file": ("other-name.wav", sound, "audio/wav")})
    assert again.json()["path"] == answer.json()["path"] and stored.stat().st_ino == inode   # reused
    other = wav_bytes(0.75)
    second = keyed.post("/v1/assets", files={"file": ("x.wav", other, "audio/wav")}).json()
    assert second["path"] != answer.json()["path"] and stored.read_bytes() == sound
    stored.write_bytes(sound[:100])          # damaged on disk: its bytes no longer hash to its name
    repaired = keyed.post("/v1/assets", files={"file": ("x.wav", sound, "audio/wav")})
    assert repaired.status_code == 201 and stored.read_bytes() == sound
    leftovers = [p.name for p in stored.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []
