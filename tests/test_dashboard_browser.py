"""The dashboard in a real browser: headless Debian Chromium driven by selenium, against the
real server and worker (`main_worker.py run --serve`) in their own process.

A person's session: sign in, submit a job through the form and watch its bar move to
"finished" without a reload and without one request for the job list (the changes come over
server-sent events), play its video (captions, timeline, SRT and VTT), see validation problems
at their fields, upload an asset, open a failed job (its error in words, its record and job)
and Retry it until a worker finishes it, Clone and edit it, cancel only after saying yes,
search and page the list, see the workers, see a batch job's batch, use the page at phone width (412 px, no sideways
scrolling), and see a `<script>` title as text; a server without a token shows no Sign out.
Screenshots go to DASHBOARD_SCREENSHOTS (default: a pytest tmp folder; the path is printed).
"""
from __future__ import annotations

import json
import socket
import time

from browser_env import require_browser
from daemon_helpers import stop, wait_for

require_browser()
from selenium.webdriver.common.by import By  # noqa: E402

from dashboard_helpers import (FPS, TOKEN, VIDEO, Server, browser, narrated_job, page, row_state,  # noqa: E402,F401
                               shots, server, snap, snap_on_failure, submit_through_form, wait)


# ---------------------------------------------------------------- the tests
def job_list_requests(driver) -> list[str]:
    """The page's requests for /v1/jobs... since the last clear, as the browser itself counts them."""
    return driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name))"
        ".filter(u => u.pathname.startsWith('/v1/jobs')).map(u => u.pathname + u.search);")


def test_submitted_job_moves_live_to_finished(page, server, shots):
    sentences = ["The first scene starts the story.", "A second scene follows it.",
                 "Then a third one comes along.", "The fourth scene is short.",
                 "Number five is here.", "Six scenes in all, almost done.",
                 "Seven is the lucky one.", "And eight closes the video."]
    job = narrated_job("dash-live", "Live progress", sentences)
    wait(page, lambda d: d.execute_script("return window.__live && window.__live.mode") == "sse",
         what="the page's event stream to open")
    page.execute_script("performance.setResourceTimingBufferSize(10000);")
    submit_through_form(page, job)
    page.execute_script("performance.clearResourceTimings(); window.__eventsBefore = window.__live.events;")
    row = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-id='dash-live']"),
               what="the new job's row")[0]
    seen = []

    def finished(d):
        state = row_state(d, "dash-live")
        if state and (not seen or seen[-1] != state):
            seen.append(state)
            if state[0] == "started" and 0 < state[1] < 100 and len(seen) < 4:
                snap(d, shots, "progress")
        return state and state[0] in ("finished", "failed", "cancelled")

    wait(page, finished, timeout=180, what="dash-live to finish")
    assert seen[-1] == ["finished", 100.0], seen
    moving = [pct for state, pct in seen if state == "started" and 0 < pct < 100]
    assert moving, f"the bar never showed a value between 0 and 100: {seen}"
    percents = [pct for _, pct in seen]
    assert percents == sorted(percents), f"the bar went backwards: {seen}"
    assert row.get_attribute("data-id") == "dash-live"   # the same element: updated in place
    assert page.execute_script("return window.__sameDocument") == "never reloaded"
    assert server.job("dash-live")["state"] == "finished"
    # pushed, not polled: the row changed with no request for the job list or the job
    assert job_list_requests(page) == [], job_list_requests(page)
    assert page.execute_script("return window.__live.mode") == "sse"
    assert page.execute_script("return window.__live.events - window.__eventsBefore") >= len(seen) - 1


def test_finished_job_plays_with_captions_and_timeline(page, server, shots):
    record = server.job("dash-live")["record"]
    report = json.loads((server.folder / "var" / "reports" / "dash-live.json").read_text())
    page.find_element(By.CSS_SELECTOR, "tr[data-id='dash-live'] button.open").click()
    wait(page, lambda d: d.execute_script("return document.getElementById('player').readyState") >= 2,
         what="the video to have data (readyState >= 2)")
    if record.get("poster"):   # the poster shows first: the page names it and it loads
        poster = page.find_element(By.ID, "player").get_attribute("poster")
        assert poster.endswith("/poster.jpg")
        assert page.execute_script("return fetch(arguments[0]).then(r => r.status)", poster) == 200
    wait(page, lambda d: d.execute_script(
        "const v = document.getElementById('player'); return !v.paused && v.currentTime > 0.2"),
        what="the video to play")
    duration = page.execute_script("return document.getElementById('player').duration")
    assert abs(duration - float(record["duration_s"])) <= 1.5 / FPS, (duration, record["duration_s"])

    target = round(duration * 0.6, 2)
    page.execute_script("const v = document.getElementById('player'); v.pause(); v.currentTime = arguments[0];",
                        target)
    wait(page, lambda d: d.execute_script(
        "const v = document.getElementById('player'); return !v.seeking && v.readyState >= 2"),
        what="the seek to land")
    landed = page.execute_script("return document.getElementById('player').currentTime")
    assert abs(landed - target) < 0.1, (landed, target)

    legend = page.find_element(By.ID, "timeline-legend").text
    for step in report["steps"]:
        assert step in legend
    painted = page.execute_script(
        "const c = document.getElementById('timeline'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0;"
        "for (let i = 0; i < d.length; i += 4) if (d[i+3] > 0 && Math.abs(d[i]-d[i+1]) + Math.abs(d[i+1]-d[i+2]) > 60) n++;"
        "return n;")
    assert painted > 500, "the timeline canvas has no coloured bars"
    facts = page.find_element(By.ID, "report-facts").text
    assert "cache hit rate" in facts and "peak RSS" in facts
    assert "QC" in facts and "passed (" in facts and "LUFS" in facts, facts   # the output's check
    system = page.find_element(By.ID, "system").text
    assert "RSS" in system and "MB" in system
    page.execute_script("const v = document.getElementById('player'); v.currentTime = 1.0;")
    time.sleep(0.5)
    snap(page, shots, "video")


def test_finished_job_shows_its_captions_as_a_track(page, server):
    links = server.job("dash-live")["links"]
    assert "subtitles_vtt" in links, "the renderer wrote no WebVTT captions beside the video of a narrated job"
    hrefs = {a.text: a.get_attribute("href") for a in page.find_elements(By.CSS_SELECTOR, "#detail-links a")}
    assert hrefs["Subtitles (VTT)"].endswith(links["subtitles_vtt"]), hrefs
    assert hrefs["Subtitles (SRT)"].endswith(links["subtitles_srt"]), hrefs
    assert page.execute_script("return fetch(arguments[0]).then(r => r.text())",
                               hrefs["Subtitles (VTT)"]).startswith("WEBVTT")
    track = page.find_element(By.CSS_SELECTOR, "#player track")
    assert track.get_attribute("kind") == "captions"
    cues = wait(page, lambda d: d.execute_script(
        "const t = document.getElementById('player').textTracks[0];"
        "return t && t.mode !== 'disabled' && t.cues && t.cues.length ?"
        "  Array.from(t.cues).map(c => c.getCueAsHTML().textContent).join(' ') : null"),
        what="the caption track's cues")
    assert "first scene starts the story" in " ".join(cues.lower().split())


def test_validation_problems_are_shown_at_their_fields_and_assets_upload(page, server, shots, tmp_path):
    bad = {"video": VIDEO, "priority": "urgent",
           "scenes": [{"duration": 1}, {"motion": "spin", "duration": 1}, {"duration": "long"}]}
    area = page.find_element(By.ID, "job-json")
    page.execute_script("arguments[0].value = arguments[1];", area, json.dumps(bad, indent=2))
    page.find_element(By.ID, "validate").click()
    items = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#problems li"), what="the problems")
    fields = {item.get_attribute("data-field") for item in items}
    assert {"priority", "scenes[1].motion", "scenes[2].duration"} <= fields, fields   # all at once
    # each problem's line is marked beside the text, at the line the field is on
    text_lines = json.dumps(bad, indent=2).split("\n")
    marked = {int(m.text.split()[-1]) for m in page.find_elements(By.CSS_SELECTOR, "#gutter .bad")}
    assert marked == {n for n, line in enumerate(text_lines, 1)
                      if '"priority"' in line or '"spin"' in line or '"long"' in line}, marked
    first = [i for i in items if i.get_attribute("data-field") == "scenes[1].motion"][0]
    first.click()
    selected = page.execute_script("const a = arguments[0]; return a.value.slice(a.selectionStart, a.selectionEnd)",
                                   area)
    assert '"motion": "spin"' in selected
    snap(page, shots, "validation")

    from PIL import Image
    picture = tmp_path / "red.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(picture)
    page.find_element(By.ID, "asset").send_keys(str(picture))
    page.find_element(By.ID, "upload").click()
    path = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads .path"), what="the upload")[0].text
    assert path.startswith("uploads/") and path.endswith(".png"), path
    assert (server.folder / "assets" / path).read_bytes() == picture.read_bytes()


def test_a_failed_job_opens_with_its_error_in_words_and_retry_finishes_it(page, server, shots):
    from hostile_helpers import Listener
    with Listener("127.0.0.1") as pictures:
        pictures.routes["/picture.png"] = (404, {}, b"not yet")
        job = {"id": "dash-broken", "video": VIDEO,
               "scenes": [{"image": f"{pictures.base}/picture.png", "duration": 1, "motion": "none"}]}
        submit_through_form(page, job)
        wait(page, lambda d: (row_state(d, "dash-broken") or [""])[0] == "failed", timeout=90,
             what="dash-broken to fail")
        view = server.job("dash-broken")
        raw = view["record"]["error"]
        row_error = page.find_element(By.CSS_SELECTOR, "tr[data-id='dash-broken'] .job-error").text
        assert row_error == view["error"]["summary"], (row_error, view["error"])
        assert "The picture of scene 1 could not be downloaded" in row_error and "404" in row_error
        assert raw["type"] not in row_error and "HTTP" in raw["message"]

        page.find_element(By.CSS_SELECTOR, "tr[data-id='dash-broken'] button.open").click()
        wait(page, lambda d: d.find_element(By.ID, "failure-summary").text == view["error"]["summary"],
             what="the failure's summary in the detail")
        assert page.find_element(By.ID, "failure-detail").text == view["error"]["detail"]
        technical = page.find_element(By.ID, "failure-raw")
        assert technical.get_attribute("open") is None            # collapsed until asked for
        assert not page.find_element(By.ID, "failure-raw-text").is_displayed()
        technical.find_element(By.TAG_NAME, "summary").click()
        assert json.loads(page.find_element(By.ID, "failure-raw-text").text) == raw
        record = wait(page, lambda d: d.find_element(By.ID, "detail-report").text, what="its record")
        assert json.loads(record)["error"] == raw
        assert json.loads(page.find_element(By.ID, "detail-job").text)["scenes"] == job["scenes"]
        assert not page.find_element(By.ID, "detail-body").is_displayed()   # no player for a failure
        page.set_window_size(1400, 1300)
        snap(page, shots, "failed")
        page.set_window_size(1400, 1000)

        page.find_element(By.ID, "detail-clone").click()       # Clone and edit: the job into the form
        wait(page, lambda d: '"id"' not in d.find_element(By.ID, "job-json").get_attribute("value"),
             timeout=10, what="the job in the form, without its id")
        cloned = json.loads(page.find_element(By.ID, "job-json").get_attribute("value"))
        assert cloned["scenes"] == job["scenes"] and cloned["video"] == job["video"]
        assert "into the form" in page.find_element(By.ID, "submit-status").text

        pictures.routes.pop("/picture.png")                     # the picture is there now
        page.find_element(By.ID, "detail-retry").click()
        wait(page, lambda d: "Queued again" in d.find_element(By.ID, "detail-status").text, timeout=20,
             what="the retry to be accepted")
        wait(page, lambda d: (row_state(d, "dash-broken") or [""])[0] == "finished", timeout=120,
             what="the retried job to finish")
    assert server.job("dash-broken")["state"] == "finished"
    assert list((server.folder / "var" / "output").glob("dash-broken*.mp4"))

    wait(page, lambda d: d.find_element(By.ID, "detail-state").text == "finished", timeout=30,
         what="the open job to show finished (a live event)")
    wait(page, lambda d: d.find_element(By.ID, "player").is_displayed(), what="its video in the detail")


def cancel_dialog(page, job_id: str, answer: str) -> None:
    page.find_element(By.CSS_SELECTOR, f"tr[data-id='{job_id}'] button.cancel").click()
    dialog = wait(page, lambda d: d.find_element(By.ID, "confirm-cancel").is_displayed() and
                  d.find_element(By.ID, "confirm-cancel"), what="the cancel dialog")
    assert job_id in dialog.text or "Cancel" in dialog.text
    page.find_element(By.ID, answer).click()
    wait(page, lambda d: not d.find_element(By.ID, "confirm-cancel").is_displayed(), what="the dialog to close")


def test_cancel_asks_first(page, server, shots):
    long_job = narrated_job("dash-long", "A long one", [f"This is sentence number {n} of a long job."
                                                         for n in range(1, 41)])
    submit_through_form(page, long_job)
    wait(page, lambda d: (row_state(d, "dash-long") or [""])[0] == "started", what="dash-long to start")
    queued = narrated_job("dash-queued", "Waits in line", ["I should never be rendered."])
    submit_through_form(page, queued)
    wait(page, lambda d: (row_state(d, "dash-queued") or [""])[0] == "queued", what="dash-queued queued")
    wait(page, lambda d: (row_state(d, "dash-long") or ["", 0])[1] >= 8, what="dash-long to move on")
    page.find_element(By.ID, "detail-close").click()
    page.execute_script("window.scrollTo(0, 0)")
    wait(page, lambda d: "dash-long" in d.find_element(By.ID, "workers").text, timeout=20,
         what="the workers panel to show dash-long being rendered")
    page.set_window_size(1400, 1100)   # the whole page: jobs, workers, the form
    snap(page, shots, "overview")
    page.set_window_size(1400, 1000)

    page.find_element(By.CSS_SELECTOR, "tr[data-id='dash-queued'] button.cancel").click()
    wait(page, lambda d: d.find_element(By.ID, "confirm-cancel").is_displayed(), what="the cancel dialog")
    assert "Waits in line" in page.find_element(By.ID, "confirm-text").text
    snap(page, shots, "confirm-cancel")
    page.find_element(By.ID, "confirm-keep").click()            # no: nothing happens
    wait(page, lambda d: not d.find_element(By.ID, "confirm-cancel").is_displayed(), what="the dialog to close")
    time.sleep(1.5)
    assert server.job("dash-queued")["state"] == "queued"
    assert row_state(page, "dash-queued")[0] == "queued"

    cancel_dialog(page, "dash-queued", "confirm-yes")           # yes: cancelled
    wait(page, lambda d: (row_state(d, "dash-queued") or [""])[0] == "cancelled", timeout=30,
         what="dash-queued to show cancelled")
    assert server.job("dash-queued")["state"] == "cancelled"
    assert not page.find_element(By.CSS_SELECTOR, "tr[data-id='dash-queued'] button.cancel").is_displayed()
    # the running one too: its worker stops it, and the worker is free for the next tests
    cancel_dialog(page, "dash-long", "confirm-yes")
    wait(page, lambda d: (row_state(d, "dash-long") or [""])[0] == "cancelled", timeout=60,
         what="dash-long to show cancelled")
    snap(page, shots, "cancelled")
    outputs = server.folder / "var" / "output"
    assert not list(outputs.glob("dash-queued*")) and not list(outputs.glob("dash-long*.mp4"))


def test_the_workers_panel_shows_the_worker(page, server):
    item = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#workers li.worker.alive"), timeout=30,
                what="a live worker in the panel")[0]
    listed = server.request("GET", "/v1/workers")[1]["workers"][0]
    assert item.get_attribute("data-name") == listed["name"]
    assert socket.gethostname() in item.text and "ago" in item.text


def test_search_and_pages(page, server):
    search = page.find_element(By.ID, "search")
    search.send_keys("dash-")
    wait(page, lambda d: "matching" in d.find_element(By.ID, "page-label").text, what="the search to run")
    ids = lambda d: d.execute_script(  # noqa: E731
        "return [...document.querySelectorAll('#job-rows tr')].map(r => r.dataset.id)")
    everything = wait(page, ids, what="the matching rows")
    assert everything and all(i.startswith("dash-") for i in everything), everything
    Select = __import__("selenium.webdriver.support.ui", fromlist=["Select"]).Select
    Select(page.find_element(By.ID, "page-size")).select_by_visible_text("10")
    search.clear()
    search.send_keys("long")
    wait(page, lambda d: ids(d) == ["dash-long"], what="the search for 'long'")
    search.clear()
    search.send_keys(" ")
    wait(page, lambda d: "matching" not in d.find_element(By.ID, "page-label").text, what="the whole list")
    # pages of two: the list goes on page by page, none twice, newest first
    page.execute_script("const s = document.getElementById('page-size'); s.append(new Option('2'));"
                        "s.value = '2'; s.dispatchEvent(new Event('change'));")
    wait(page, lambda d: len(ids(d)) == 2, what="a page of two")
    pages = [ids(page)]
    while page.find_element(By.ID, "page-older").is_enabled() and len(pages) < 20:
        before = ids(page)
        page.find_element(By.ID, "page-older").click()
        wait(page, lambda d: ids(d) != before, what="the next page")
        pages.append(ids(page))
    flat = [i for p in pages for i in p]
    listed = server.request("GET", "/v1/jobs?limit=100")[1]["jobs"]
    assert flat == [j["id"] for j in listed], (pages, [j["id"] for j in listed])
    page.find_element(By.ID, "page-newer").click()
    wait(page, lambda d: ids(d) == pages[-2], what="the page before")
    Select(page.find_element(By.ID, "page-size")).select_by_visible_text("25")
    wait(page, lambda d: len(ids(d)) == len(flat), what="all of them on one page")


def no_sideways_scroll(page) -> tuple[int, int]:
    return page.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")


def test_phone_width_has_no_horizontal_overflow(page, server, shots):
    page.set_window_size(412, 915)
    try:
        wait(page, lambda d: d.execute_script("return window.innerWidth") <= 412, what="the narrow window")
        scroll, client = no_sideways_scroll(page)
        assert scroll <= client, f"the page scrolls sideways at 412 px: {scroll} > {client}"
        card = page.find_element(By.CSS_SELECTOR, "tr[data-id='dash-live']")
        assert card.size["width"] <= client
        snap(page, shots, "phone")
        page.find_element(By.CSS_SELECTOR, "tr[data-id='dash-broken'] button.open").click()
        wait(page, lambda d: d.find_element(By.ID, "detail").is_displayed(), what="the detail at phone width")
        time.sleep(0.5)
        scroll, client = no_sideways_scroll(page)
        assert scroll <= client, f"the open job scrolls sideways at 412 px: {scroll} > {client}"
        page.execute_script("document.getElementById('detail').scrollIntoView()")
        snap(page, shots, "phone-detail")
    finally:
        page.set_window_size(1400, 1000)


def test_a_script_title_shows_as_text(page, server, shots):
    title = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\"> & more"
    job = narrated_job("dash-script", title, ["Titles are text."])
    submit_through_form(page, job)
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-id='dash-script']"), what="its row")
    cell = page.find_element(By.CSS_SELECTOR, "tr[data-id='dash-script'] .job-title")
    wait(page, lambda d: cell.text == title, timeout=20, what=f"the title shown as text (shows {cell.text!r})")
    assert page.execute_script(
        "return document.querySelectorAll('#job-rows script, #job-rows img, #detail script').length") == 0
    wait(page, lambda d: (row_state(d, "dash-script") or [""])[0] == "finished", timeout=120,
         what="dash-script to finish")
    page.find_element(By.CSS_SELECTOR, "tr[data-id='dash-script'] button.open").click()
    wait(page, lambda d: d.find_element(By.ID, "detail-title").text == title, what="the detail title")
    assert page.execute_script("return document.querySelectorAll('script').length") == 1   # app.js only
    assert page.execute_script("return typeof window.__pwned") == "undefined"
    assert page.execute_script("return window.__sameDocument") == "never reloaded"
    snap(page, shots, "dashboard")
    errors = [e for e in page.get_log("browser")
              if e["level"] == "SEVERE" and "favicon" not in e["message"] and "401" not in e["message"]]
    assert not errors, errors


def test_a_batch_job_shows_its_batch(page, server):
    template = {"video": VIDEO, "scenes": [{"duration": 1, "motion": "none", "text": "Batch {{n}}"}]}
    status, answer = server.request("POST", "/v1/batches", {"template": template,
                                                             "rows": [{"n": "1"}, {"n": "2", "id": "dash-batch-2"}]})
    assert status == 201, answer
    batch_id = answer["id"]
    wait_for(lambda: server.request("GET", f"/v1/batches/{batch_id}")[1]["state"] == "ended", timeout=120,
             what="the batch to end")
    wait(page, lambda d: (row_state(d, "dash-batch-2") or [""])[0] == "finished", timeout=30,
         what="the batch's job in the list")
    page.find_element(By.CSS_SELECTOR, "tr[data-id='dash-batch-2'] button.open").click()
    box = wait(page, lambda d: d.find_element(By.ID, "detail-batch") if
               d.find_element(By.ID, "detail-batch").is_displayed() else None, what="the batch line")
    assert box.text.startswith(f"Batch {batch_id}: ended (") and "2 finished" in box.text, box.text
    assert page.find_element(By.ID, "detail-title").text == "Batch 2"    # the title with its row's value


def test_sign_out_drops_the_session(page, server):
    page.find_element(By.ID, "logout").click()
    wait(page, lambda d: d.find_element(By.ID, "token").is_displayed(), what="the login box again")
    status = page.execute_script("return fetch('/v1/queue').then(r => r.status)")
    assert status == 401
    assert not page.find_element(By.ID, "app").is_displayed()


def test_without_a_token_there_is_no_sign_out(browser, tmp_path):
    open_server = Server(tmp_path, token="")
    try:
        wait_for(open_server.up, timeout=90, interval=0.2, what="the tokenless server to answer")
        browser.get(open_server.url + "/")
        wait(browser, lambda d: d.find_element(By.ID, "app").is_displayed(), what="the page, with no sign-in")
        assert not browser.find_element(By.ID, "logout").is_displayed()
        assert not browser.find_element(By.ID, "login").is_displayed()
        assert browser.execute_script("return fetch('/v1/session').then(r => r.json())") == \
            {"auth": False, "signed_in": True}
    finally:
        stop(open_server.proc, timeout=60)
        open_server.log.close()
