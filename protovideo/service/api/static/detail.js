// One job opened: a finished one plays (poster, captions, SRT and VTT, timeline, QC); a
// failed or cancelled one shows its error in words (the raw error under "Technical
// details"), its report and its job, with Retry and Clone and edit.

import {$, el, clear, setText, seconds, megabytes, percent, when} from "./dom.js";
import {call, jobPath, errorText} from "./api.js";
import {drawTimeline} from "./timeline.js";
import {loadIntoForm} from "./submit.js";
import {jobRow, updateRow} from "./jobs.js";

let openJob = null;              // id shown in the detail panel
let shown = null;                // its view (GET /v1/jobs/{id}?with_job=true)
let lastReport = null;

export function closeDetail() {
  openJob = null;
  shown = null;
  lastReport = null;
  const video = $("player");
  video.pause();
  video.removeAttribute("src");
  clear(video);
  video.load();
  $("detail").hidden = true;
}

export function redrawTimeline() {
  if (lastReport) drawTimeline($("timeline"), $("timeline-legend"), lastReport);
}

function fact(list, name, value) {
  list.append(el("div", {}, el("dt", {text: name}), el("dd", {text: value})));
}

function link(box, text, href, extra = {}) {
  const a = el("a", {text, attrs: extra});
  a.href = href;
  box.append(a);
}

// the output's check (record.qc): passed with its loudness, or its problems named
function qcText(qc) {
  if (!qc) return "not checked";
  const f = qc.figures || {};
  const sound = f.integrated_lufs != null ? ` (${f.integrated_lufs} LUFS, true peak ${f.true_peak_dbtp} dBTP)` : "";
  if (qc.passed) return `passed${sound}`;
  const problems = (qc.problems || []).map((p) => p.message);
  return `${problems.length} problem${problems.length === 1 ? "" : "s"} (${qc.mode}): ${problems.join("; ")}`;
}

function pretty(value) {
  try { return JSON.stringify(value, null, 2); } catch (_) { return String(value); }
}

// the files through this server's own routes (same origin: the session and the CSP hold); on S3
// they redirect to the store or read it (the links' presigned URLs are for other clients)
function showVideo(id, job, record, links) {
  const video = $("player");
  video.pause();
  clear(video);
  if (record.poster) video.poster = jobPath(id, "/poster.jpg");
  else video.removeAttribute("poster");
  video.src = jobPath(id, "/video");
  const hasCaptions = links.subtitles_vtt || (Array.isArray(record.subtitles) && record.subtitles.length);
  if (hasCaptions) {
    // loaded but not shown: the video may burn its subtitles in; the player's CC button shows them
    const track = el("track", {attrs: {kind: "captions", srclang: "en", label: "Captions"}});
    track.src = jobPath(id, "/subtitles.vtt");
    track.addEventListener("error", () => track.remove());
    video.append(track);
    track.track.mode = "hidden";
  }
  video.dataset.expectedDuration = record.duration_s !== undefined ? String(record.duration_s) : "";
  video.play().catch(() => { video.muted = true; video.play().catch(() => {}); });

  const box = $("detail-links");
  clear(box);
  link(box, "Download MP4", jobPath(id, "/video"), {download: ""});
  link(box, "Report (JSON)", jobPath(id, "/report"), {target: "_blank", rel: "noopener"});
  if (links.manifest) link(box, "Provenance (JSON)", jobPath(id, "/manifest.json"), {target: "_blank", rel: "noopener"});
  if (hasCaptions) {
    link(box, "Subtitles (SRT)", jobPath(id, "/subtitles.srt"));
    link(box, "Subtitles (VTT)", jobPath(id, "/subtitles.vtt"));
  }
}

function showFailure(job, record) {
  const words = job.error || {};
  setText($("failure-summary"), words.summary || (job.state === "cancelled" ? "Cancelled." : "It failed."));
  setText($("failure-detail"), words.detail || "");
  setText($("failure-raw-text"), pretty(record.error || {status: record.status, was: record.was}));
  $("failure-raw").open = false;
  $("detail-failure").hidden = false;
}

// batches (issue 27): a job that belongs to one shows the batch's counts, where the server has them
async function showBatch(job) {
  const box = $("detail-batch");
  const batchId = job.batch_id || (job.record && job.record.batch_id) || (job.job && job.job.batch_id);
  box.hidden = true;
  if (!batchId) return;
  const answer = await call("GET", `/v1/batches/${encodeURIComponent(batchId)}`).catch(() => null);
  if (!answer || !answer.ok || !answer.data) return;
  const counts = Object.entries(answer.data.counts || {}).map(([k, v]) => `${v} ${k}`).join(", ");
  setText(box, `Batch ${batchId}: ${answer.data.state || ""}${counts ? ` (${counts})` : ""}`);
  box.hidden = false;
}

// the performance report where the render wrote one; for a job that ended without one, its
// record (what the worker recorded: error, attempts, worker, times)
async function showReport(id, job, facts) {
  const links = job.links || {};
  const record = job.record || {};
  const written = links.report && (job.state === "finished" || record.report);   // a failure may have none
  const rep = written ? await call("GET", jobPath(id, "/report")) : null;
  if (openJob !== id) return;
  if (!rep || !rep.ok || !rep.data) {
    if (job.state === "finished" || !job.record) return;
    setText($("detail-report-label"), "Record (JSON): the failure as the worker recorded it");
    setText($("detail-report"), pretty(job.record));
    $("detail-report-box").hidden = false;
    $("detail-report-box").open = true;
    return;
  }
  setText($("detail-report-label"), "Report (JSON)");
  setText($("detail-report"), pretty(rep.data));
  $("detail-report-box").hidden = false;
  $("detail-report-box").open = job.state !== "finished";
  if (job.state !== "finished") return;
  lastReport = rep.data;
  const cache = rep.data.cache_stats || {};
  fact(facts, "render time", seconds(rep.data.total_time));
  fact(facts, "cache hit rate", `${percent(cache.hit_rate)} (${cache.hits ?? 0} of ${(cache.hits ?? 0) + (cache.misses ?? 0)})`);
  fact(facts, "peak RSS", megabytes(rep.data.peak_rss_mb));
  fact(facts, "peak GPU", rep.data.peak_gpu_mb === undefined ? "none" : megabytes(rep.data.peak_gpu_mb));
  drawTimeline($("timeline"), $("timeline-legend"), rep.data);
}

// a live change of the open job's state: show it as it is now
export function jobChanged(job) {
  if (openJob === job.id && shown && shown.state !== job.state) openDetail(job.id).catch(() => {});
}

export async function openDetail(id) {
  openJob = id;
  const answer = await call("GET", `${jobPath(id)}?with_job=true`);
  if (openJob !== id || !answer.ok || !answer.data) return;
  const again = shown && shown.id === id;   // the same job refreshed: what the user did stays said
  const job = shown = answer.data;
  const record = job.record || {};
  const finished = job.state === "finished";
  const ended = job.state === "failed" || job.state === "cancelled";
  $("detail").hidden = false;
  setText($("detail-id"), id);
  setText($("detail-title"), job.title || "");
  setText($("detail-state"), job.state);
  $("detail-state").className = `badge state-${job.state}`;
  if (!again) setText($("detail-status"), "");
  $("detail-retry").hidden = !ended;
  $("detail-failure").hidden = true;
  $("detail-report-box").hidden = true;
  setText($("detail-report"), "");
  lastReport = null;
  clear($("timeline-legend"));
  $("timeline").getContext("2d").clearRect(0, 0, $("timeline").width, $("timeline").height);
  if (ended) showFailure(job, record);
  $("detail-body").hidden = !finished;
  if (finished) showVideo(id, job, record, job.links || {});
  else $("player").pause();
  const data = job.job || record.job;
  setText($("detail-job"), data ? pretty(data) : "(the job is not on record)");
  $("detail-job-box").open = ended;
  $("detail-clone").disabled = !data || typeof data !== "object";

  const facts = $("report-facts");
  clear(facts);
  fact(facts, "video", seconds(record.duration_s));
  fact(facts, "attempts", job.attempts ?? record.attempts ?? "");
  if (record.worker) fact(facts, "worker", record.worker);
  if (record.finished_at) fact(facts, "finished", when(record.finished_at));
  fact(facts, "QC", qcText(record.qc || (record.error && record.error.qc)));
  showBatch(job);
  await showReport(id, job, facts);
  if (openJob === id) $("detail").scrollIntoView({behavior: "smooth", block: "nearest"});
}

async function retry() {
  if (!shown) return;
  const id = shown.id;
  $("detail-retry").disabled = true;
  try {
    const answer = await call("POST", jobPath(id, "/retry"));
    if (answer.ok && answer.data) {
      setText($("detail-status"), `Queued again (${answer.data.state}).`);
      $("detail-status").className = "status good";
      $("detail-retry").hidden = true;
      setText($("detail-state"), answer.data.state);
      $("detail-state").className = `badge state-${answer.data.state}`;
      const r = jobRow(id);
      if (r) updateRow(r, answer.data);
      shown = {...shown, state: answer.data.state};
    } else {
      setText($("detail-status"), `Retry refused: ${errorText(answer)}`);
      $("detail-status").className = "status bad";
    }
  } finally {
    $("detail-retry").disabled = false;
  }
}

function cloneIntoForm() {
  const data = shown && (shown.job || (shown.record || {}).job);
  if (!data || typeof data !== "object") return;
  const copy = {...data};
  delete copy.id;                // a new job, with an id of its own
  loadIntoForm(copy, `Loaded job ${shown.id} into the form: edit it, then submit.`);
}

export function setupDetail() {
  $("detail-close").addEventListener("click", closeDetail);
  $("detail-retry").addEventListener("click", () => retry().catch(() => {}));
  $("detail-clone").addEventListener("click", cloneIntoForm);
}
