// The per-step timeline of a job's report, as the benchmark's PNG draws it
// (protovideo/cli/benchmark_chart.py): one bar per scene split into its steps, and a
// last "job" bar for the steps of the whole job (music, soundtrack mix, mux...).
// Step times are summed over threads, so scenes that ran in parallel overlap in wall time.

import {el, clear} from "./dom.js";

export const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
  "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#2ca02c"];

const num = (v) => (Number.isFinite(Number(v)) ? Number(v) : 0);

export function rows(report) {
  const out = [];
  const sceneSums = {};
  for (const scene of report.scenes || []) {
    const steps = {};
    for (const [name, info] of Object.entries(scene.steps || {})) {
      steps[name] = num(info && info.duration);
      sceneSums[name] = (sceneSums[name] || 0) + steps[name];
    }
    out.push([`scene ${scene.index}`, steps]);
  }
  const jobLevel = {};
  for (const [name, info] of Object.entries(report.steps || {})) {
    const rest = num(info && info.duration) - (sceneSums[name] || 0);
    if (rest > 1e-3) jobLevel[name] = rest;
  }
  out.push(["job", jobLevel]);
  return out;
}

export function drawTimeline(canvas, legend, report) {
  const data = rows(report);
  const names = [];
  for (const [, steps] of data) for (const s of Object.keys(steps)) if (!names.includes(s)) names.push(s);
  const colors = Object.fromEntries(names.map((n, i) => [n, PALETTE[i % PALETTE.length]]));
  const longest = Math.max(1e-6, ...data.map(([, steps]) => Object.values(steps).reduce((a, b) => a + b, 0)));

  const labelW = 70, rowH = 16, gap = 5, pad = 8, valueW = 52;
  const cssW = Math.max(320, canvas.parentElement ? canvas.parentElement.clientWidth : 640);
  const cssH = pad * 2 + data.length * (rowH + gap) + 16;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(cssW * ratio);
  canvas.height = Math.round(cssH * ratio);
  canvas.style.width = `${cssW}px`;
  canvas.style.height = `${cssH}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  ctx.font = "12px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  const barW = cssW - labelW - valueW - pad * 2;
  const scale = barW / longest;
  let y = pad;
  for (const [label, steps] of data) {
    ctx.fillStyle = "#444";
    ctx.fillText(label, pad, y + rowH / 2);
    let x = pad + labelW;
    for (const name of names) {
      const secs = steps[name] || 0;
      if (secs <= 0) continue;
      const w = Math.max(1, secs * scale);
      ctx.fillStyle = colors[name];
      ctx.fillRect(x, y, w, rowH);
      x += w;
    }
    const total = Object.values(steps).reduce((a, b) => a + b, 0);
    ctx.fillStyle = "#444";
    ctx.fillText(`${total.toFixed(2)} s`, x + 4, y + rowH / 2);
    y += rowH + gap;
  }
  ctx.fillStyle = "#777";
  ctx.fillText("seconds per scene and step (summed over threads)", pad + labelW, y + 6);

  clear(legend);
  for (const name of names) {
    const swatch = el("span", {class: "swatch"});
    swatch.style.background = colors[name];
    legend.append(el("span", {class: "key"}, swatch, el("span", {text: name})));
  }
  return {rows: data.length, steps: names};
}
