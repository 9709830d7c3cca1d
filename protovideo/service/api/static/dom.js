// Small DOM helpers. Text from jobs only ever reaches the page through textContent
// or attribute values (never innerHTML), so titles, errors and ids show as text.

export const $ = (id) => document.getElementById(id);

// el("td", {class: "x", text: "...", data: {id: "..."}, attrs: {...}}, child, ...)
export function el(tag, opts = {}, ...children) {
  const node = document.createElement(tag);
  if (opts.class) node.className = opts.class;
  if (opts.text !== undefined && opts.text !== null) node.textContent = String(opts.text);
  if (opts.title) node.title = String(opts.title);
  for (const [k, v] of Object.entries(opts.data || {})) node.dataset[k] = String(v);
  for (const [k, v] of Object.entries(opts.attrs || {})) node.setAttribute(k, String(v));
  for (const child of children) if (child) node.append(child);
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

export function setText(node, text) {
  const value = text === undefined || text === null ? "" : String(text);
  if (node.textContent !== value) node.textContent = value;
}

export function seconds(value) {
  if (value === undefined || value === null || !Number.isFinite(Number(value))) return "\u2014";
  const s = Math.max(0, Number(value));
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 90) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

export function megabytes(value) {
  if (value === undefined || value === null || !Number.isFinite(Number(value))) return "\u2014";
  const mb = Number(value);
  return mb >= 1024 ? `${(mb / 1024).toFixed(2)} GB` : `${Math.round(mb)} MB`;
}

export function percent(rate) {
  if (rate === undefined || rate === null || !Number.isFinite(Number(rate))) return "\u2014";
  return `${Math.round(Number(rate) * 100)}%`;
}

export function clockTime(date = new Date()) {
  return date.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"});
}

export function when(iso) {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) return iso ? String(iso) : "\u2014";
  return date.toLocaleString([], {month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    second: "2-digit"});
}
