// The jobs table: one page of GET /v1/jobs (state filter, search, cursors), rows updated in
// place by live events, Open and Cancel (asked first, in a dialog). At phone width the
// rows are cards (style.css).

import {$, el, setText, seconds} from "./dom.js";
import {call, jobPath, errorText} from "./api.js";

const ACTIVE = new Set(["queued", "started"]);
const rows = new Map();          // job id -> row parts, for the jobs of this page
const page = {cursors: [null], index: 0, next: null};   // cursors[i]: where page i starts
let opener = () => {};

export function onOpen(callback) { opener = callback; }

function filters() {
  return {state: $("state-filter").value, q: $("search").value.trim(), limit: $("page-size").value};
}

// the error in words (the server's describe_error); the raw error only in the detail's technical details
export function errorWords(job) {
  if (job.error && typeof job.error.summary === "string") return job.error.summary;
  return job.state === "failed" ? "It failed; open it for the details." : "";
}

function qcWords(job) {
  const qc = job.qc || (job.record && job.record.qc);
  if (!qc || job.state !== "finished") return "";
  const problems = typeof qc.problems === "number" ? qc.problems : (qc.problems || []).length;
  return qc.passed ? "QC passed" : `QC: ${problems} problem${problems === 1 ? "" : "s"}`;
}

export function progressOf(job) {
  const p = job.progress || {};
  let pct = Number.isFinite(Number(p.percent)) ? Number(p.percent)
    : (p.total ? (100 * Number(p.done || 0)) / Number(p.total) : 0);
  if (job.state === "finished") pct = 100;
  let what = "";
  // the step ("scene 2 of 5", "join"...): done/total are the job in thousandths, the bar shows them
  if (job.state === "started") what = p.what || "";
  return {pct: Math.max(0, Math.min(100, pct)), what};
}

function cell(label, cls, ...children) {
  return el("td", {class: cls, attrs: {"data-label": label}}, ...children);
}

function makeRow(id) {
  const r = {job: {id}};
  r.title = el("div", {class: "job-title"});
  r.id = el("div", {class: "job-id mono", text: id});
  r.error = el("div", {class: "job-error"});
  r.qc = el("div", {class: "job-qc"});
  r.priority = cell("Priority", "priority");
  r.state = el("span", {class: "badge"});
  r.fill = el("span", {class: "fill"});
  r.bar = el("div", {class: "bar", attrs: {role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100}}, r.fill);
  r.what = el("div", {class: "what"});
  r.attempts = cell("Attempts", "num attempts");
  r.eta = cell("ETA", "num eta");
  r.cancel = el("button", {class: "cancel danger small", text: "Cancel", attrs: {type: "button"}});
  r.open = el("button", {class: "open small", text: "Open", attrs: {type: "button"}});
  r.cancel.addEventListener("click", () => askCancel(id, r));
  r.open.addEventListener("click", () => opener(id));
  r.tr = el("tr", {data: {id}},
    cell("Job", "job", r.title, r.id, r.error, r.qc),
    r.priority,
    cell("State", "state", r.state),
    cell("Progress", "progress-col", r.bar, r.what),
    r.attempts, r.eta,
    el("td", {class: "actions"}, r.open, r.cancel));
  return r;
}

export function updateRow(r, job) {
  r.job = {...r.job, ...job};
  job = r.job;
  setText(r.title, job.title || "(untitled)");
  r.title.classList.toggle("untitled", !job.title);
  setText(r.error, job.state === "failed" ? errorWords(job) : "");
  setText(r.qc, qcWords(job));
  const qc = job.qc || (job.record && job.record.qc);
  r.qc.classList.toggle("bad", Boolean(qc && !qc.passed));
  setText(r.priority, job.priority || "");
  setText(r.state, job.cancel_requested && job.state === "started" ? "stopping" : job.state);
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
}

function place(jobs) {
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
  $("no-jobs").hidden = jobs.length > 0;
}

function showPager() {
  $("page-newer").disabled = page.index === 0;
  $("page-older").disabled = !page.next;
  const {q} = filters();
  setText($("page-label"), `page ${page.index + 1}${q ? ` of the jobs matching \u201c${q}\u201d` : ""}`);
}

// this page again (after a change of filter, a resync, or in polling mode)
export async function loadPage() {
  const {state, q, limit} = filters();
  const query = new URLSearchParams({limit});
  if (state) query.set("state", state);
  if (q) query.set("q", q);
  const cursor = page.cursors[page.index];
  if (cursor) query.set("cursor", cursor);
  const answer = await call("GET", `/v1/jobs?${query}`);
  if (!answer.ok || !answer.data) throw new Error(errorText(answer));
  page.next = answer.data.next_cursor || null;
  place(answer.data.jobs || []);
  showPager();
}

export function firstPage() {
  page.cursors = [null];
  page.index = 0;
  return loadPage();
}

function turn(step) {
  if (step > 0 && page.next) {
    page.cursors[page.index + 1] = page.next;
    page.index += 1;
  } else if (step < 0 && page.index > 0) {
    page.index -= 1;
  } else {
    return;
  }
  loadPage().catch(() => {});
}

// a live change: the row updated in place; a new job shows at the top of the first page
export function applyJob(job) {
  const r = rows.get(job.id);
  if (r) { updateRow(r, job); return; }
  const {state, q} = filters();
  if (page.index !== 0 || q || (state && job.state !== state) || !isNewest(job)) return;
  const fresh = makeRow(job.id);
  rows.set(job.id, fresh);
  updateRow(fresh, job);
  $("job-rows").prepend(fresh.tr);
  $("no-jobs").hidden = true;
  const limit = Number(filters().limit);
  const all = [...$("job-rows").children];
  for (const extra of all.slice(limit)) { rows.delete(extra.dataset.id); extra.remove(); }
}

export function jobRow(id) { return rows.get(id); }

// a job submitted after every job on this page (so it belongs at its top)
function isNewest(job) {
  const at = Date.parse(job.submitted_at || "");
  const first = $("job-rows").firstElementChild;
  const top = first ? rows.get(first.dataset.id) : null;
  const topAt = top ? Date.parse(top.job.submitted_at || "") : -Infinity;
  return Number.isFinite(at) ? at >= topAt : ACTIVE.has(job.state);
}

// ------------------------------------------------------------------ cancel, asked first
function confirmCancel(job) {
  const dialog = $("confirm-cancel");
  const running = job.state === "started";
  setText($("confirm-text"), `Cancel ${job.title ? `\u201c${job.title}\u201d` : `job ${job.id}`}? ` +
    (running ? "It is rendering now: its worker stops it and nothing is published." :
      "It has not started yet: it leaves the queue."));
  return new Promise((resolve) => {
    const done = (answer) => {
      $("confirm-yes").removeEventListener("click", yes);
      $("confirm-keep").removeEventListener("click", keep);
      dialog.removeEventListener("cancel", keep);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const yes = () => done(true);
    const keep = () => done(false);
    $("confirm-yes").addEventListener("click", yes);
    $("confirm-keep").addEventListener("click", keep);
    dialog.addEventListener("cancel", keep);   // Escape
    dialog.showModal();
    $("confirm-keep").focus();
  });
}

async function askCancel(id, r) {
  if (!(await confirmCancel(r.job))) return;
  r.cancel.disabled = true;
  try {
    const answer = await call("DELETE", jobPath(id));
    if (!answer.ok) setText(r.error, `cancel refused: ${errorText(answer)}`);
    else if (answer.data && answer.data.state) updateRow(r, answer.data);
  } finally {
    r.cancel.disabled = false;
  }
}

export function setupJobs({openJob}) {
  opener = openJob;
  let typing = null;
  $("state-filter").addEventListener("change", () => firstPage().catch(() => {}));
  $("page-size").addEventListener("change", () => firstPage().catch(() => {}));
  $("search").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => firstPage().catch(() => {}), 300);
  });
  $("page-newer").addEventListener("click", () => turn(-1));
  $("page-older").addEventListener("click", () => turn(1));
}
