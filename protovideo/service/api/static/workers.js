// The workers panel: GET /v1/workers every few seconds (while the tab is visible): each worker's
// host, what it renders now (a click opens the job) and how long ago it last beat.

import {$, el, clear, setText, seconds} from "./dom.js";
import {call, AuthError} from "./api.js";

const EVERY_MS = 5000;

function ago(worker) {
  return worker.age_s === undefined ? "" : `${seconds(worker.age_s)} ago`;
}

function render(answer, openJob) {
  const list = $("workers");
  clear(list);
  const workers = answer.workers || [];
  setText($("workers-note"), workers.length ? "" : "none seen in the last few minutes");
  for (const w of workers) {
    const jobs = el("span", {class: "worker-jobs"});
    for (const id of w.jobs || (w.current_job ? [w.current_job] : [])) {
      const open = el("button", {class: "small link mono", text: id, attrs: {type: "button"}});
      open.addEventListener("click", () => openJob(id));
      jobs.append(open);
    }
    if (!jobs.childNodes.length) jobs.append(el("span", {class: "hint", text: w.state || "idle"}));
    list.append(el("li", {class: `worker ${w.alive ? "alive" : "stale"}`, data: {name: w.name || ""}},
      el("span", {class: "dot", title: w.alive ? "alive" : "no recent heartbeat"}),
      el("span", {class: "worker-name", text: w.name || "", title: `pid ${w.pid ?? "?"}`}),
      el("span", {class: "worker-host", text: w.host || ""}),
      jobs,
      el("span", {class: "worker-beat hint", text: ago(w), title: w.last_heartbeat || ""})));
  }
}

let soon = null;
let refreshNow = () => {};

// a job started or ended: the panel asks again shortly (at most one extra request per second)
export function refreshWorkersSoon() {
  if (!soon) soon = setTimeout(() => { soon = null; refreshNow(); }, 1000);
}

export function startWorkers({openJob, running}) {
  let timer = null;
  refreshNow = () => { clearTimeout(timer); refresh(); };
  async function refresh() {
    if (!running()) return;
    try {
      if (!document.hidden) {
        const answer = await call("GET", "/v1/workers");
        if (answer.ok && answer.data) render(answer.data, openJob);
      }
    } catch (err) {
      if (err instanceof AuthError) return;
    }
    timer = setTimeout(refresh, EVERY_MS);
  }
  refresh();
}
