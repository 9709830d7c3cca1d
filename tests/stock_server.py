"""A local stand-in for the Pexels and Pixabay search APIs: an http.server on 127.0.0.1.

It answers the documented search endpoints with their JSON shape (Pexels: GET /v1/search,
/videos/search with `Authorization: <key>`; Pixabay: GET /?key=, /videos/?key=) and serves the
files those answers point to (/files/<name>), made by the test: real JPEG and MP4 bytes.

    with StockServer(files={"blue.jpg": bytes}, photos=[...], videos=[...], key="k") as server:
        settings PEXELS_API_URL=server.url + "/pexels", PIXABAY_API_URL=server.url + "/pixabay"
        server.searches                              # every search request (path, query, headers)

`photos` items: {"name", "width", "height", "author"}; `videos` items: {"name", "width",
"height", "duration", "author"}. A wrong key gets 401, as the real APIs answer.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class StockServer:
    def __init__(self, files: dict[str, bytes], photos: list[dict] = (), videos: list[dict] = (),
                 key: str = "test-key"):
        self.files, self.photos, self.videos, self.key = dict(files), list(photos), list(videos), key
        self.searches: list[dict] = []
        self.downloads: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes, kind: str = "application/json"):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path.startswith("/files/"):
                    name = parts.path[len("/files/"):]
                    server.downloads.append(name)
                    if name not in server.files:
                        return self._send(404, b"")
                    kind = "video/mp4" if name.endswith(".mp4") else "image/jpeg"
                    return self._send(200, server.files[name], kind)
                server.searches.append({"path": parts.path, "query": query,
                                        "headers": {k.lower(): v for k, v in self.headers.items()}})
                answer = server.answer(parts.path, query, self.headers.get("Authorization", ""))
                if answer is None:
                    return self._send(401 if parts.path.startswith(("/pexels", "/pixabay")) else 404,
                                      json.dumps({"error": "Unauthorized"}).encode())
                self._send(200, json.dumps(answer).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def file_url(self, name: str) -> str:
        return f"{self.url}/files/{name}"

    def answer(self, path: str, query: dict, authorization: str) -> dict | None:
        if path == "/pexels/v1/search" and authorization == self.key:
            return {"page": 1, "per_page": 15, "total_results": len(self.photos), "photos": [
                {"id": 1000 + i, "width": p["width"], "height": p["height"],
                 "url": f"https://www.pexels.com/photo/{p['name']}-{1000 + i}/", "photographer": p["author"],
                 "photographer_url": f"https://www.pexels.com/@{p['author'].lower()}",
                 "src": {"original": self.file_url(p["name"]), "large2x": self.file_url(p["name"]),
                         "large": self.file_url(p["name"])}, "alt": query.get("query", "")}
                for i, p in enumerate(self.photos)]}
        if path == "/pexels/videos/search" and authorization == self.key:
            return {"page": 1, "per_page": 15, "total_results": len(self.videos), "videos": [
                {"id": 2000 + i, "width": v["width"], "height": v["height"], "duration": v["duration"],
                 "url": f"https://www.pexels.com/video/{v['name']}-{2000 + i}/",
                 "user": {"name": v["author"], "url": f"https://www.pexels.com/@{v['author'].lower()}"},
                 "video_files": [{"id": 1, "quality": "sd", "file_type": "video/mp4", "width": v["width"],
                                  "height": v["height"], "link": self.file_url(v["name"])}]}
                for i, v in enumerate(self.videos)]}
        if path == "/pixabay/" and query.get("key") == self.key:
            return {"total": len(self.photos), "totalHits": len(self.photos), "hits": [
                {"id": 3000 + i, "pageURL": f"https://pixabay.com/photos/{p['name']}-{3000 + i}/",
                 "type": "photo", "webformatURL": self.file_url(p["name"]),
                 "largeImageURL": self.file_url(p["name"]), "imageWidth": p["width"],
                 "imageHeight": p["height"], "user_id": 42, "user": p["author"]}
                for i, p in enumerate(self.photos)]}
        if path == "/pixabay/videos/" and query.get("key") == self.key:
            return {"total": len(self.videos), "totalHits": len(self.videos), "hits": [
                {"id": 4000 + i, "pageURL": f"https://pixabay.com/videos/{v['name']}-{4000 + i}/",
                 "type": "film", "duration": v["duration"], "user_id": 43, "user": v["author"],
                 "videos": {"small": {"url": self.file_url(v["name"]), "width": v["width"],
                                      "height": v["height"], "size": len(self.files.get(v["name"], b""))}}}
                for i, v in enumerate(self.videos)]}
        return None

    def __enter__(self) -> "StockServer":
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
