"""Hostile pages in a real browser (issue 22): headless Debian Chromium, the real `serve` in its own
process, and an attacker's page served from a second loopback port (same site, another origin).

- Its forms (text/plain JSON, urlencoded) and no-cors fetches (text/plain, a multipart upload)
  queue nothing and store nothing, with API_TOKEN (the operator signed in to the dashboard in
  the same browser, so the SameSite=Strict cookie rides along to the same site) and without.
- It cannot frame the dashboard: the frame stays empty (frame-ancestors 'none', X-Frame-Options),
  while a frame of its own origin on the same page loads.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from api_helpers import ApiProcess
from daemon_helpers import wait_for

from browser_env import CHROMEDRIVER, CHROMIUM, require_browser  # noqa: E402

TOKEN = "hostile-browser-token-2c7a"
VIDEO = {"width": 160, "height": 284, "fps": 12, "transition": "cut", "quality": "draft"}

require_browser()
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def attack_page(api: str) -> str:
    """Forms and fetches at `api`, each into its own frame; the title says "sent" once all went."""
    job = json.dumps({"id": "csrf-text", "video": VIDEO, "scenes": [{"duration": 1, "motion": "none"}],
                      "output_filename": "XX"})
    name, value = job.split('XX"}', 1)[0], 'x.mp4"}'        # name=value is the JSON: {... "=x.mp4"}
    fetched = json.dumps({"id": "csrf-fetch", "video": VIDEO, "scenes": [{"duration": 1, "motion": "none"}]})
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>loading</title></head><body>
<iframe name="f1"></iframe><iframe name="f2"></iframe>
<form id="plain" method="POST" action="{api}/v1/jobs" enctype="text/plain" target="f1">
  <input type="hidden" name='{name}' value='{value}'></form>
<form id="urlenc" method="POST" action="{api}/generate-task" target="f2">
  <input type="hidden" name="output_filename" value="csrf.mp4"></form>
<script>
const frames = [...document.querySelectorAll("iframe")];
let loaded = 0;
frames.forEach(f => f.addEventListener("load", () => {{ loaded += 1; finish(); }}));
let fetches = 0;
function finish() {{ if (loaded === frames.length && fetches === 3) document.title = "sent"; }}
const done = () => {{ fetches += 1; finish(); }};
const png = Uint8Array.from(atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="), c => c.charCodeAt(0));
const upload = new FormData();
upload.append("file", new Blob([png], {{type: "image/png"}}), "dot.png");
fetch("{api}/v1/assets", {{method: "POST", mode: "no-cors", credentials: "include", body: upload}}).then(done, done);
fetch("{api}/v1/jobs", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "text/plain"}}, body: {json.dumps(fetched)}}}).then(done, done);
fetch("{api}/generate", {{method: "POST", mode: "no-cors", credentials: "include",
  body: new URLSearchParams({{output_filename: "csrf2.mp4"}})}}).then(done, done);
document.getElementById("plain").submit();
document.getElementById("urlenc").submit();
</script></body></html>"""


def frame_page(api: str) -> str:
    """Two frames, the dashboard's and one of its own; the title says "loaded" once both are done."""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>frames</title></head><body>
<iframe id="api" name="api" width="800" height="600"></iframe><iframe id="own" name="own"></iframe>
<script>
let loaded = 0;
for (const [id, src] of [["api", "{api}/"], ["own", "/inner.html"]]) {{
  const frame = document.getElementById(id);
  frame.addEventListener("load", () => {{ loaded += 1; if (loaded === 2) document.title = "loaded"; }});
  frame.src = src;
}}
</script></body></html>"""


class Attacker:
    """The attacker's site: another port of the same loopback host."""

    def __init__(self, api_url: str):
        pages = {"/attack.html": attack_page(api_url), "/frames.html": frame_page(api_url),
                 "/inner.html": '<!doctype html><p id="marker">the attacker\'s own frame</p>'}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body = pages.get(self.path.split("?")[0], "not here").encode()
                self.send_response(200 if self.path.split("?")[0] in pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def chromium():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def until(driver, condition, what: str, timeout: float = 60):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))
    except TimeoutException:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


def sign_in(driver, api: ApiProcess) -> None:
    driver.get(api.url + "/")
    until(driver, lambda d: d.find_element(By.ID, "token").is_displayed(), "the login box")
    driver.find_element(By.ID, "token").send_keys(TOKEN)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    until(driver, lambda d: d.find_element(By.ID, "app").is_displayed(), "the signed-in dashboard")
    assert driver.get_cookie("protovideo_session")


@pytest.mark.parametrize("token", [TOKEN, ""], ids=["signed-in", "no-token"])
def test_a_cross_origin_page_queues_and_stores_nothing(chromium, tmp_path, token):
    api = ApiProcess(tmp_path, "serve", token=token, LOG_LEVEL="debug")
    attacker = Attacker(api.url)
    try:
        if token:
            sign_in(chromium, api)
        chromium.get(attacker.url + "/attack.html")
        until(chromium, lambda d: d.title == "sent", "the attack page to send everything")
        # every request did reach the server (its access log says so) ...
        sent = [f'"POST {path} HTTP/1.1"' for path in ("/v1/jobs", "/generate-task", "/v1/assets", "/generate")]
        log = tmp_path / "worker.log"
        wait_for(lambda: all(line in log.read_text(errors="replace") for line in sent), timeout=60,
                 what=f"the server to log {sent}")
        # ... and nothing came of it
        status = api.get("/v1/queue").json()
        assert sum(status["queued"].values()) == 0, status
        assert api.get("/v1/jobs").json()["jobs"] == []
        uploads = tmp_path / "assets" / "uploads"
        assert not uploads.exists() or not any(uploads.iterdir())
        for line in sent:
            assert f"{line} 403" in log.read_text(), line
        assert log.read_text().count('"POST /v1/jobs HTTP/1.1" 403') == 2      # the form and the fetch
    finally:
        attacker.close()
        api.stop()


def test_the_dashboard_cannot_be_framed_by_another_page(chromium, tmp_path):
    api = ApiProcess(tmp_path, "serve", token=TOKEN)
    attacker = Attacker(api.url)
    try:
        chromium.get(attacker.url + "/frames.html")
        until(chromium, lambda d: d.title == "loaded", "both frames to load (or be refused)")
        chromium.switch_to.frame("own")                    # the control: framing itself works here
        until(chromium, lambda d: d.find_elements(By.ID, "marker"), "the attacker's own frame")
        chromium.switch_to.default_content()
        chromium.switch_to.frame("api")
        inside = chromium.execute_script(
            "return [location.href, !!document.getElementById('queue'), document.body ? "
            "document.body.innerText.slice(0, 200) : '']")
        chromium.switch_to.default_content()
        assert inside[1] is False, f"the dashboard rendered inside a foreign frame: {inside}"
        assert "ProtoVideo" not in inside[2] and "Sign in" not in inside[2], inside
    finally:
        attacker.close()
        api.stop()
