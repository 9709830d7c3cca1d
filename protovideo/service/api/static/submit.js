// The submit form: paste or edit a job, validate it (each problem shown with its JSON
// path and line, and selected in the text on click), upload assets, submit.

import {$, el, clear, setText} from "./dom.js";
import {call, errorText} from "./api.js";
import {locate, spanOf, lineOf} from "./jsonlocate.js";

const SAMPLE = {
  video: {width: 270, height: 480, fps: 12, transition: "cut", quality: "draft"},
  scenes: [
    {narration_text: "Hello from the dashboard.", subtitle: true,
      text: {content: "Hello", position: "top"}, motion: "zoom_in"},
    {duration: 2, text: {content: "Goodbye", position: "center"}, motion: "pan_left"},
  ],
};

let textArea;
let marks = new Map();           // line -> [{message, span}] of the problems shown

// line numbers beside the text; a problem's line is marked (its messages as a tooltip)
function drawGutter() {
  const gutter = $("gutter");
  const lines = textArea.value.split("\n").length;
  clear(gutter);
  for (let n = 1; n <= lines; n++) {
    const mark = marks.get(n);
    const row = el("div", {text: mark ? `\u25cf ${n}` : n});
    if (mark) {
      row.className = "bad";
      row.title = mark.map((m) => m.message).join("\n");
      row.addEventListener("click", () => select(mark[0].span.start, mark[0].span.end));
    }
    gutter.append(row);
  }
  gutter.scrollTop = textArea.scrollTop;
}

function status(message, kind = "") {
  const box = $("submit-status");
  setText(box, message);
  box.className = `status ${kind}`;
}

function select(start, end) {
  textArea.focus();
  textArea.setSelectionRange(start, end);
  const line = lineOf(textArea.value, start);
  const lineHeight = parseFloat(getComputedStyle(textArea).lineHeight) || 18;
  textArea.scrollTop = Math.max(0, (line - 3) * lineHeight);
  $("gutter").scrollTop = textArea.scrollTop;
}

// [{field, message}] shown next to their JSON paths; a click selects the field's text
function showProblems(problems, text) {
  const list = $("problems");
  clear(list);
  let spans = null;
  try { spans = locate(text); } catch (_) { spans = null; }
  const located = problems.map((p) => {
    const field = String(p.field || p.path || "");
    return {p, field, span: spans && field ? spanOf(spans, field) : null};
  });
  located.sort((a, b) => (a.span ? a.span.start : Infinity) - (b.span ? b.span.start : Infinity));
  marks = new Map();
  for (const {p, field, span} of located) {
    if (span) {
      const line = lineOf(text, span.start);
      marks.set(line, [...(marks.get(line) || []), {message: `${field}: ${p.message || ""}`, span}]);
    }
    const where = span ? `line ${lineOf(text, span.start)}` : "";
    const item = el("li", {data: {field}},
      el("code", {class: "field", text: field || "(job)"}),
      el("span", {class: "message", text: p.message || String(p)}),
      where ? el("span", {class: "where", text: where}) : null);
    if (span) {
      item.classList.add("jump");
      item.title = `select ${span.path || "the job"} in the text`;
      item.addEventListener("click", () => select(span.start, span.end));
    }
    list.append(item);
  }
  textArea.classList.toggle("invalid", problems.length > 0);
  drawGutter();
}

// the job as the server will get it, or null with the JSON syntax problem shown
function readJob() {
  const text = textArea.value;
  let data;
  try {
    data = JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec(err.message);
    const at = m ? Number(m[1]) : null;
    showProblems([{field: "", message: `not valid JSON: ${err.message}`}], text);
    if (at !== null) select(at, Math.min(text.length, at + 1));
    status("Fix the JSON first.", "bad");
    return null;
  }
  const priority = $("priority").value;
  if (priority && data && typeof data === "object" && !Array.isArray(data)) data.priority = priority;
  return {data, text};
}

async function validate() {
  const job = readJob();
  if (!job) return false;
  status("Checking\u2026");
  const answer = await call("POST", "/v1/validate", job.data);
  const errors = (answer.data && answer.data.errors) || [];
  if (answer.ok && answer.data && answer.data.valid) {
    showProblems([], job.text);
    status("Valid: ready to submit.", "good");
    return true;
  }
  if (errors.length) {
    showProblems(errors, job.text);
    status(`${errors.length} problem${errors.length === 1 ? "" : "s"} to fix.`, "bad");
  } else {
    status(`Could not validate: ${errorText(answer)}`, "bad");
  }
  return false;
}

async function submit(event, afterSubmit) {
  event.preventDefault();
  const job = readJob();
  if (!job) return;
  const button = $("submit");
  button.disabled = true;
  status("Submitting\u2026");
  try {
    const answer = await call("POST", "/v1/jobs", job.data);
    if (answer.ok && answer.data && answer.data.id) {
      showProblems([], job.text);
      const again = answer.status === 200 ? " (already queued: the existing job)" : "";
      status(`Submitted job ${answer.data.id}${again}.`, "good");
      afterSubmit(answer.data.id);
    } else if (answer.data && Array.isArray(answer.data.errors)) {
      showProblems(answer.data.errors, job.text);
      status(`Not submitted: ${answer.data.errors.length} problem(s).`, "bad");
    } else {
      status(`Not submitted: ${errorText(answer)}`, "bad");
    }
  } finally {
    button.disabled = false;
  }
}

function insertAtCursor(text) {
  const start = textArea.selectionStart;
  const end = textArea.selectionEnd;
  textArea.setRangeText(text, start, end, "end");
  textArea.focus();
}

async function upload(event) {
  event.preventDefault();
  const input = $("asset");
  if (!input.files || !input.files.length) { status("Choose a file to upload.", "bad"); return; }
  const form = new FormData();
  form.append("file", input.files[0]);
  const name = input.files[0].name;
  $("upload").disabled = true;
  try {
    const answer = await call("POST", "/v1/assets", form);
    if (answer.ok && answer.data && answer.data.path) {
      const path = String(answer.data.path);
      const use = el("button", {class: "small", text: "Insert path", attrs: {type: "button"}});
      use.addEventListener("click", () => insertAtCursor(JSON.stringify(path)));
      $("uploads").prepend(el("li", {}, el("span", {class: "name", text: name}),
        el("code", {class: "path", text: path, title: path}), use));
      input.value = "";
      status(`Uploaded ${name}.`, "good");
    } else {
      status(`Upload refused: ${errorText(answer)}`, "bad");
    }
  } finally {
    $("upload").disabled = false;
  }
}

// Clone and edit: a job's JSON into the form, ready to change and submit
export function loadIntoForm(data, message) {
  textArea.value = JSON.stringify(data, null, 2);
  showProblems([], textArea.value);
  status(message, "good");
  textArea.scrollTop = 0;
  textArea.focus();
  textArea.scrollIntoView({behavior: "smooth", block: "center"});
}

export function setupSubmit({afterSubmit}) {
  textArea = $("job-json");
  if (!textArea.value) textArea.value = JSON.stringify(SAMPLE, null, 2);
  $("validate").addEventListener("click", () => validate().catch(() => {}));
  $("submit-form").addEventListener("submit", (e) => submit(e, afterSubmit).catch(() => {}));
  $("upload-form").addEventListener("submit", (e) => upload(e).catch(() => {}));
  textArea.addEventListener("input", () => {
    textArea.classList.remove("invalid");
    if (marks.size) marks = new Map();
    drawGutter();
  });
  textArea.addEventListener("scroll", () => { $("gutter").scrollTop = textArea.scrollTop; });
  drawGutter();
}
