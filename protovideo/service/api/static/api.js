// The job API as the page uses it. The token is never held here: POST /v1/login
// sets an HttpOnly cookie, and every request rides on that cookie.

export class AuthError extends Error {}

let onAuthLost = () => {};
export function whenAuthLost(callback) { onAuthLost = callback; }

export async function call(method, path, body, extraHeaders = {}) {
  const headers = {Accept: "application/json", ...extraHeaders};
  const init = {method, headers, credentials: "same-origin", cache: "no-store"};
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401 && path !== "/v1/login") {
    onAuthLost();
    throw new AuthError("signed out");
  }
  let data = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try { data = await response.json(); } catch (_) { data = null; }
  }
  return {status: response.status, ok: response.ok, data};
}

export const jobPath = (id, tail = "") => `/v1/jobs/${encodeURIComponent(id)}${tail}`;

export function errorText(answer) {
  const d = answer && answer.data;
  if (d && typeof d.detail === "string") return d.detail;
  if (d && d.error && typeof d.error.message === "string") return d.error.message;
  if (d && typeof d.message === "string") return d.message;
  return `the server answered ${answer ? answer.status : "nothing"}`;
}
