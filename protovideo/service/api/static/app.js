// The ProtoVideo dashboard: queue depths, live jobs, cancel, the finished video with its
// captions and per-step timeline, cache and memory, and a submit form.
// Plain ES modules, no build step. Job text reaches the page only as text (dom.js).

import {$, el, clear, setText, seconds, megabytes, percent, clockTime, when} from "./dom.js";
import {call, jobPath, errorText, whenAuthLost, AuthError} from "./api.js";
import {drawTimeline} from "./timeline.js";
import {setupSubmit} from "./submit.js";

const ACTIVE = new Set(["queued", "started"]);
const rows = new Map();          // job id -> {tr, cells...}
let running = false;             // polling loops are on
let openJob = null;              // id shown in the detail panel
let lastReport = null;

// ------------------------------------------------------------------ sign-in
function showLogin(message = "") {
  running = false;
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  setText($("login-error"), message);
  $("token").focus();
}

function showApp() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  if (!running) {
    running = true;
    pollJobs();
    pollQueue();
    pollSystem();
  }
}

async function login(event) {
  event.preventDefault();
  const input = $("token");
  const answer = await call("POST", "/v1/login", {token: input.value});
  input.value = "";              // the token is not kept in the page
  if (answer.ok) showApp();
  else showLogin(answer.status === 401 ? "That token was not accepted." : errorText(answer));
}

async function logout() {
  try { await call("POST", "/v1/logout"); } catch (_) { /* signed out either way */ }
  closeDetail();
  showLogin();
}

// ------------------------------------------------------------------ polling
function later(fn, ms) {   // a hidden tab asks less often
  setTimeout(() => { if (running) fn(); }, document.hidden ? Math.max(ms, 5000) : ms);
}

async function pollJobs() {
  let busy = false;
  try {
    busy = await refreshJobs();
    setText($("updated"), `updated ${clockTime()}`);
  } catch (err) {
    if (err instanceof AuthError) return;
    setText($("updated"), "server not answering; retrying");
  }
  later(pollJobs, busy ? 500 : 1500);
}

async function pollQueue() {
  try { await refreshQueue(); } catch (err) { if (err instanceof AuthError) return; }
  later(pollQueue, 1500);
}

async function pollSystem() {
  try { await refreshSystem(); } catch (err) { if (err instanceof AuthError) return; }
  later(pollSystem, 4000);
}

// ------------------------------------------------------------------ queue and system
function chip(label, value, cls = "") {
  return el("span", {class: `chip ${cls}`}, el("span", {class: "label", text: label}), el("b", {text: value}));
}

async function refreshQueue() {
  const answer = await call("GET", "/v1/queue");
  if (!answer.ok || !answer.data) return;
  const q = answer.data;
  const depths = q.depths || q.queued || q;
  const box = $("queue");
  clear(box);
  for (const p of ["critical", "high", "normal", "low"]) {
    if (depths[p] !== undefined) box.append(chip(p, depths[p], Number(depths[p]) ? "busy" : ""));
  }
  if (q.retry_pending !== undefined) box.append(chip("retry pending", q.retry_pending));
  const inProgress = q.in_progress !== undefined ? q.in_progress : q.started;
  if (inProgress !== undefined) box.append(chip("rendering", inProgress, Number(inProgress) ? "live" : ""));
}

async function refreshSystem() {
  const answer = await call("GET", "/v1/system");
  if (!answer.ok || !answer.data) return;
  const mem = answer.data.memory || {};
  const cache = answer.data.cache || {};
  const rate = cache.hit_rate !== undefined ? cache.hit_rate : (cache.lifetime || {}).hit_rate;
  const box = $("system");
  clear(box);
  box.append(chip("cache hits", percent(rate)));
  box.append(chip("RSS", megabytes(mem.rss_mb), mem.level && mem.level !== "ok" ? `warn ${mem.level}` : ""));
  box.append(chip("GPU", mem.gpu_mb === null || mem.gpu_mb === undefined ? "none" : megabytes(mem.gpu_mb)));
}

// ------------------------------------------------------------------ jobs table
const titles = new Map();        // job id -> title learnt from the job itself (lists leave it out)

function titleOf(job) {
  if (typeof job.title === "string" && job.title) return job.title;
  if (titles.get(job.id)) return titles.get(job.id);
  const data = job.job || (job.record && job.record.job) || {};
  const first = (data.scenes || [])[0] || {};
  if (first.text && typeof first.text.content === "string") return first.text.content;
  return data.output_filename || job.output_filename || "";
}

function errorOf(job) {
  const e = job.error || (job.record && job.record.error);
  if (!e) return "";
  if (typeof e === "string") return e;
  const where = e.field && !String(e.message || "").includes(e.field) ? ` (${e.field})` : "";
  return `${e.type ? `${e.type}: ` : ""}${e.message || ""}${where}`;
}

function progressOf(job) {
  const p = job.progress || {};
  let pct = Number.isFinite(Number(p.percent)) ? Number(p.percent)
    : (p.total ? (100 * Number(p.done || 0)) / Number(p.total) : 0);
  if (job.state === "finished") pct = 100;
  let what = "";
  if (job.state === "started" && p.total) what = `${p.done || 0}/${p.total} ${p.what || ""}`.trim();
  return {pct: Math.max(0, Math.min(100, pct)), what};
}

function makeRow(id) {
  const r = {};
  r.title = el("div", {class: "job-title"});
  r.id = el("div", {class: "job-id mono", text: id});
  r.error = el("div", {class: "job-error"});
  r.priority = el("td", {class: "priority"});
  r.state = el("span", {class: "badge"});
  r.fill = el("span", {class: "fill"});
  r.bar = el("div", {class: "bar", attrs: {role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100}}, r.fill);
  r.what = el("div", {class: "what"});
  r.attempts = el("td", {class: "num attempts"});
  r.eta = el("td", {class: "num eta"});
  r.cancel = el("button", {class: "cancel danger small", text: "Cancel", attrs: {type: "button"}});
  r.open = el("button", {class: "open small", text: "Open", attrs: {type: "button"}});
  r.cancel.addEventListener("click", () => cancelJob(id, r));
  r.open.addEventListener("click", () => openDetail(id));
  r.tr = el("tr", {data: {id}},
    el("td", {class: "job"}, r.title, r.id, r.error),
    r.priority,
    el("td", {}, r.state),
    el("td", {class: "progress-col"}, r.bar, r.what),
    r.attempts, r.eta,
    el("td", {class: "actions"}, r.open, r.cancel));
  return r;
}

function updateRow(r, job) {
  setText(r.title, titleOf(job) || "(untitled)");
  r.title.classList.toggle("untitled", !titleOf(job));
  setText(r.error, job.state === "failed" ? errorOf(job) : "");
  setText(r.priority, job.priority || "");
  setText(r.state, job.state);
  r.state.className = `badge state-${job.state}`;
  r.tr.dataset.state = job.state;
  const {pct, what} = progressOf(job);
  r.fill.style.width = `${pct.toFixed(1)}%`;
  r.bar.setAttribute("aria-valuenow", pct.toFixed(1));
  r.bar.classList.toggle("done", job.state === "finished");
  const stopped = job.state === "failed" || job.state === "cancelled";
  r.bar.classList.toggle("stopped", stopped);
  r.bar.hidden = stopped && pct === 0;   // nothing to show: the state says it
  setText(r.what, what);
  setText(r.attempts, job.attempts === undefined || job.attempts === null ? "" : job.attempts);
  setText(r.eta, ACTIVE.has(job.state) && job.eta_s !== undefined && job.eta_s !== null ? seconds(job.eta_s) : "");
  r.cancel.hidden = !ACTIVE.has(job.state);
  r.open.hidden = job.state !== "finished";
}

async function refreshJobs() {
  const state = $("state-filter").value;
  const query = new URLSearchParams({limit: "50"});
  if (state) query.set("state", state);
  const answer = await call("GET", `/v1/jobs?${query}`);
  if (!answer.ok || !answer.data) throw new Error(errorText(answer));
  const jobs = answer.data.jobs || [];
  // a list entry without progress: ask for the running job itself
  await Promise.all(jobs.filter((j) => j.state === "started" && !j.progress).map(async (j) => {
    const one = await call("GET", jobPath(j.id));
    if (one.ok && one.data) Object.assign(j, one.data);
  }));
  const body = $("job-rows");
  const seen = new Set();
  let previous = null;
  for (const job of jobs) {
    if (typeof job.id !== "string") continue;
    seen.add(job.id);
    let r = rows.get(job.id);
    if (!r) { r = makeRow(job.id); rows.set(job.id, r); }
    updateRow(r, job);
    const want = previous ? previous.nextSibling : body.firstChild;
    if (want !== r.tr) body.insertBefore(r.tr, want);
    previous = r.tr;
  }
  for (const [id, r] of rows) if (!seen.has(id)) { r.tr.remove(); rows.delete(id); }
  for (const job of jobs) if (!titleOf(job) && !titles.has(job.id)) learnTitle(job);
  $("no-jobs").hidden = jobs.length > 0;
  return jobs.some((j) => ACTIVE.has(j.state));
}

// a list entry may come without its title: ask for the job once
async function learnTitle(job) {
  titles.set(job.id, "");
  const one = await call("GET", `${jobPath(job.id)}?with_job=true`).catch(() => null);
  const title = one && one.ok && one.data ? titleOf({...one.data, id: ""}) : "";
  titles.set(job.id, title);
  const r = rows.get(job.id);
  if (r && title) {
    setText(r.title, title);
    r.title.classList.remove("untitled");
  }
}

async function cancelJob(id, r) {
  r.cancel.disabled = true;
  try {
    const answer = await call("DELETE", jobPath(id));
    if (!answer.ok) setText(r.error, `cancel refused: ${errorText(answer)}`);
    else if (answer.data && answer.data.state) updateRow(r, {...answer.data, id});
  } finally {
    r.cancel.disabled = false;
  }
  refreshJobs().catch(() => {});
}

// ------------------------------------------------------------------ detail: video, captions, timeline
function closeDetail() {
  openJob = null;
  lastReport = null;
  const video = $("player");
  video.pause();
  video.removeAttribute("src");
  clear(video);
  video.load();
  $("detail").hidden = true;
}

function fact(list, name, value) {
  list.append(el("div", {}, el("dt", {text: name}), el("dd", {text: value})));
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

async function openDetail(id) {
  openJob = id;
  const answer = await call("GET", jobPath(id));
  if (openJob !== id) return;
  if (!answer.ok || !answer.data) return;
  const job = answer.data;
  const record = job.record || {};
  const links = job.links || {};
  $("detail").hidden = false;
  setText($("detail-id"), id);
  setText($("detail-title"), titleOf(job));

  const video = $("player");
  video.pause();
  clear(video);
  // the poster shows until the video plays; captions as a track (both where the record has them)
  if (record.poster) video.poster = links.poster || jobPath(id, "/poster.jpg");
  else video.removeAttribute("poster");
  video.src = links.video || jobPath(id, "/video");
  const hasCaptions = links.subtitles_vtt || (Array.isArray(record.subtitles) && record.subtitles.length);
  if (hasCaptions) {
    // loaded but not shown: the video may burn its subtitles in; the player's CC button shows them
    const track = el("track", {attrs: {kind: "captions", srclang: "en", label: "Captions"}});
    track.src = links.subtitles_vtt || jobPath(id, "/subtitles.vtt");
    track.addEventListener("error", () => track.remove());
    video.append(track);
    track.track.mode = "hidden";
  }
  video.dataset.expectedDuration = record.duration_s !== undefined ? String(record.duration_s) : "";
  video.play().catch(() => { video.muted = true; video.play().catch(() => {}); });

  const linkBox = $("detail-links");
  clear(linkBox);
  const download = el("a", {text: "Download MP4", attrs: {download: ""}});
  download.href = links.video || jobPath(id, "/video");
  const reportLink = el("a", {text: "Report (JSON)", attrs: {target: "_blank", rel: "noopener"}});
  reportLink.href = links.report || jobPath(id, "/report");
  linkBox.append(download, reportLink);
  if (links.manifest) {
    const manifest = el("a", {text: "Provenance (JSON)", attrs: {target: "_blank", rel: "noopener"}});
    manifest.href = links.manifest;
    linkBox.append(manifest);
  }
  if (hasCaptions) {
    const srt = el("a", {text: "Subtitles (SRT)"});
    srt.href = links.subtitles_srt || jobPath(id, "/subtitles.srt");
    linkBox.append(srt);
  }

  const facts = $("report-facts");
  clear(facts);
  fact(facts, "video", seconds(record.duration_s));
  fact(facts, "attempts", job.attempts ?? record.attempts ?? "");
  if (record.worker) fact(facts, "worker", record.worker);
  if (record.finished_at) fact(facts, "finished", when(record.finished_at));
  const qc = record.qc || (record.error && record.error.qc);
  fact(facts, "QC", qcText(qc));

  const rep = await call("GET", links.report || jobPath(id, "/report"));
  if (openJob !== id || !rep.ok || !rep.data) return;
  lastReport = rep.data;
  const cache = rep.data.cache_stats || {};
  fact(facts, "render time", seconds(rep.data.total_time));
  fact(facts, "cache hit rate", `${percent(cache.hit_rate)} (${cache.hits ?? 0} of ${(cache.hits ?? 0) + (cache.misses ?? 0)})`);
  fact(facts, "peak RSS", megabytes(rep.data.peak_rss_mb));
  fact(facts, "peak GPU", rep.data.peak_gpu_mb === undefined ? "none" : megabytes(rep.data.peak_gpu_mb));
  drawTimeline($("timeline"), $("timeline-legend"), rep.data);
  $("detail").scrollIntoView({behavior: "smooth", block: "nearest"});
}

// ------------------------------------------------------------------ start
async function start() {
  whenAuthLost(() => showLogin(running ? "Your session ended: sign in again." : ""));
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("detail-close").addEventListener("click", closeDetail);
  $("state-filter").addEventListener("change", () => refreshJobs().catch(() => {}));
  window.addEventListener("resize", () => {
    if (lastReport) drawTimeline($("timeline"), $("timeline-legend"), lastReport);
  });
  setupSubmit({afterSubmit: () => refreshJobs().catch(() => {})});
  try {
    const answer = await call("GET", "/v1/queue");
    if (answer.ok) showApp();
    else showLogin(errorText(answer));
  } catch (err) {
    if (!(err instanceof AuthError)) showLogin("The server is not answering.");
  }
}

start();
