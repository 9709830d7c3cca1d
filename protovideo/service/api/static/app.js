// The ProtoVideo dashboard: queue depths, live jobs (pushed over server-sent events), paging
// and search, a failed job's error in words with Retry and Clone and edit, cancel (asked
// first), the finished video with its captions and per-step timeline, workers, cache and
// memory, and a submit form. Plain ES modules, no build step. Job text reaches the page only
// as text (dom.js).

import {$, el, clear, setText, megabytes, percent, clockTime} from "./dom.js";
import {call, errorText, whenAuthLost, AuthError} from "./api.js";
import {setupSubmit} from "./submit.js";
import {setupJobs, loadPage, firstPage, applyJob, jobRow} from "./jobs.js";
import {setupDetail, openDetail, closeDetail, redrawTimeline, jobChanged} from "./detail.js";
import {startLive} from "./live.js";
import {startWorkers, refreshWorkersSoon} from "./workers.js";

let running = false;             // signed in and showing the queue
let auth = true;                 // the server asks for a token (GET /v1/session)
let live = null;

// ------------------------------------------------------------------ sign-in
function showLogin(message = "") {
  running = false;
  if (live) { live.stop(); live = null; }
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  setText($("login-error"), message);
  $("token").focus();
}

function showApp() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = !auth;    // without a token there is nothing to sign out of
  if (running) return;
  running = true;
  firstPage().then(stamp).catch(notAnswering);
  live = startLive({
    onJob: (job) => {
      const before = (jobRow(job.id) || {job: {}}).job.state;
      applyJob(job);
      if (before !== job.state) { jobChanged(job); refreshWorkersSoon(); }
      stamp();
    },
    onQueue: showQueue,
    onResync: () => loadPage().then(stamp).catch(notAnswering),
    poll: () => Promise.all([loadPage().then(stamp), refreshQueue()]).catch(notAnswering),
  });
  refreshQueue().catch(() => {});
  pollSystem();
  startWorkers({openJob: openDetail, running: () => running});
}

function stamp() { setText($("updated"), `updated ${clockTime()}`); }

function notAnswering(err) {
  if (!(err instanceof AuthError)) setText($("updated"), "server not answering; retrying");
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

// ------------------------------------------------------------------ queue and system
function chip(label, value, cls = "") {
  return el("span", {class: `chip ${cls}`}, el("span", {class: "label", text: label}), el("b", {text: value}));
}

function showQueue(q) {
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

async function refreshQueue() {
  const answer = await call("GET", "/v1/queue");
  if (answer.ok && answer.data) showQueue(answer.data);
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

async function pollSystem() {
  if (!running) return;
  try { if (!document.hidden) await refreshSystem(); } catch (err) { if (err instanceof AuthError) return; }
  setTimeout(pollSystem, 5000);
}

// ------------------------------------------------------------------ start
async function start() {
  whenAuthLost(() => showLogin(running ? "Your session ended: sign in again." : ""));
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  window.addEventListener("resize", redrawTimeline);
  setupJobs({openJob: openDetail});
  setupDetail();
  setupSubmit({afterSubmit: () => {}});   // the new job arrives as a live event (or the next poll)
  try {
    const answer = await call("GET", "/v1/session");
    auth = !(answer.ok && answer.data && answer.data.auth === false);
    if (answer.ok && answer.data && answer.data.signed_in) showApp();
    else showLogin(answer.ok ? "" : errorText(answer));
  } catch (err) {
    if (!(err instanceof AuthError)) showLogin("The server is not answering.");
  }
}

start();
