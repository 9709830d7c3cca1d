"""The dashboard browser tests' server (`run --serve`), headless Chromium and page helpers."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from daemon_helpers import ROOT, stop, wait_for, worker_env

from browser_env import CHROMEDRIVER, CHROMIUM  # noqa: E402
TOKEN = "dashboard-test-token-5f1c"
FPS = 12
VIDEO = {"width": 270, "height": 480, "fps": FPS, "transition": "cut", "quality": "draft"}


def narrated_job(job_id: str, title: str, sentences: list[str]) -> dict:
    scenes = [{"narration_text": s, "motion": "none"} for s in sentences]
    scenes[0].update(subtitle=True, text={"content": title, "position": "top"})
    return {"id": job_id, "video": VIDEO, "scenes": scenes}


# ---------------------------------------------------------------- server and browser
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, folder: Path, token: str = TOKEN):
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = worker_env(folder, API_HOST="127.0.0.1", API_PORT=self.port, API_TOKEN=token,
                              MAX_WORKERS="2", CACHE_ENABLED="true", ALLOW_PRIVATE_URLS="true")
        self.log = open(folder / "server.out", "ab")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "main_worker.py"), "run", "--serve"],
                                     cwd=folder, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)

    def request(self, method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited: {(self.folder / 'server.out').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as answer:
                return answer.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def job(self, job_id: str) -> dict:
        status, data = self.request("GET", f"/v1/jobs/{job_id}")
        assert status == 200, (status, data)
        return data


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard")
    srv = Server(folder)
    try:
        wait_for(srv.up, timeout=90, interval=0.2, what="the API server to answer /health")
        yield srv
    finally:
        stop(srv.proc, timeout=60)
        srv.log.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or tmp_path_factory.mktemp("dashboard-shots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\ndashboard screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser(server):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--mute-audio", "--autoplay-policy=no-user-gesture-required", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver, condition, timeout=60, what="the page"):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))
    except TimeoutException:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


def snap(driver, shots: Path, name: str) -> Path:
    path = shots / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def row_state(driver, job_id: str):
    return driver.execute_script(
        "const r = document.querySelector(`tr[data-id='${arguments[0]}']`);"
        "if (!r) return null;"
        "const bar = r.querySelector('[role=progressbar]');"
        "return [r.dataset.state, parseFloat(bar.getAttribute('aria-valuenow') || '0')];", job_id)


def submit_through_form(driver, job: dict) -> None:
    area = driver.find_element(By.ID, "job-json")
    driver.execute_script("arguments[0].value = arguments[1];"
                          "arguments[0].dispatchEvent(new Event('input'));", area, json.dumps(job, indent=2))
    driver.find_element(By.ID, "submit").click()
    wait(driver, lambda d: f"Submitted job {job['id']}" in d.find_element(By.ID, "submit-status").text,
         timeout=20, what=f"the form to submit {job['id']}")


@pytest.fixture(scope="module")
def page(browser, server):
    """The dashboard, signed in through its login box."""
    browser.get(server.url + "/")
    wait(browser, lambda d: d.find_element(By.ID, "token").is_displayed(), what="the login box")
    source = browser.page_source
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait(browser, lambda d: d.find_element(By.ID, "app").is_displayed(), what="the signed-in page")
    assert TOKEN not in source and TOKEN not in browser.page_source
    assert browser.execute_script("return localStorage.length + sessionStorage.length") == 0
    assert TOKEN not in browser.execute_script("return document.cookie")   # HttpOnly
    browser.execute_script("window.__sameDocument = 'never reloaded';")
    return browser


@pytest.fixture(autouse=True)
def snap_on_failure(request, page, shots):
    """A screenshot of the page as it was when a test failed (FAILED-<test>.png)."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        print(f"screenshot: {snap(page, shots, 'FAILED-' + request.node.name)}")


