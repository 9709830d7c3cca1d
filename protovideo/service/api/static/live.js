// Live updates: the server pushes job changes over server-sent events (GET /v1/events,
// EventSource, riding on the session cookie). Only when the stream cannot be opened does the
// page poll instead, and it tries the stream again every RETRY_SSE_MS.
// window.__live tells what is in use (tests read it): {mode: "sse" | "polling", events: n}.

import {$, setText} from "./dom.js";

const RETRY_SSE_MS = 30000;
const FAILS_BEFORE_POLLING = 2;   // EventSource reconnects by itself; this many failures in a row: poll

export function startLive({onJob, onQueue, onResync, poll}) {
  const status = window.__live = {mode: "connecting", events: 0};
  let source = null;
  let fails = 0;
  let pollTimer = null;
  let stopped = false;

  function show(mode) {
    status.mode = mode;
    setText($("live-mode"), mode === "sse" ? "live" : mode);
    $("live").classList.toggle("live", mode === "sse");
    $("live").classList.toggle("warn", mode === "polling");
  }

  function pollLoop() {
    if (stopped || status.mode !== "polling") return;
    Promise.resolve(poll()).catch(() => {}).finally(() => {
      pollTimer = setTimeout(pollLoop, document.hidden ? 5000 : 1500);
    });
  }

  function fallBack() {
    if (source) { source.close(); source = null; }
    if (status.mode !== "polling") {
      show("polling");
      pollLoop();
    }
    setTimeout(connect, RETRY_SSE_MS);
  }

  function connect() {
    if (stopped || source) return;
    source = new EventSource("/v1/events", {withCredentials: true});
    source.addEventListener("ready", () => {
      fails = 0;
      clearTimeout(pollTimer);
      show("sse");
      onResync();               // whatever changed while the stream was not open
    });
    source.addEventListener("job", (event) => {
      status.events += 1;
      try { onJob(JSON.parse(event.data)); } catch (_) { /* one bad event: skip it */ }
    });
    source.addEventListener("queue", (event) => {
      try { onQueue(JSON.parse(event.data)); } catch (_) { /* skip */ }
    });
    source.addEventListener("resync", () => onResync());
    source.addEventListener("error", () => {
      fails += 1;
      if (source && (source.readyState === EventSource.CLOSED || fails >= FAILS_BEFORE_POLLING)) fallBack();
    });
  }

  connect();
  return {
    stop() {
      stopped = true;
      clearTimeout(pollTimer);
      if (source) { source.close(); source = null; }
      show("off");
    },
  };
}
