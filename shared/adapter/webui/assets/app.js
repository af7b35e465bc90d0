// app.js: signing in, calling the API, and the router. The token lives in
// this tab's sessionStorage only: it comes from the sign-in form or from
// the URL fragment #token=... (removed from the address bar at once), and
// is sent as the bearer token. It is never put in a URL or a log.
"use strict";

const TOKEN_KEY = "buildfarm.token";
// The API is beside the page: /ui/ -> /v1/ (under any path prefix).
const API_BASE = new URL("../v1/", location.href);

const session = {
  me: null, // GET /v1/whoami: {actor, role, token_id?, builder?}
  token() { return sessionStorage.getItem(TOKEN_KEY) || ""; },
  setToken(t) { sessionStorage.setItem(TOKEN_KEY, t); },
  clear() { sessionStorage.removeItem(TOKEN_KEY); this.me = null; },
  isAdmin() { return !!this.me && this.me.role === "admin"; },
  // mayManage: admins, and submitters for the jobs they submitted.
  mayManage(job) {
    const me = this.me;
    return !!me && (me.role === "admin" || (me.role === "submitter" && job.requested_by === me.actor));
  },
};

class APIError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || "the farm answered " + status);
    this.status = status;
    this.code = e.code || "";
    this.requestID = e.request_id || "";
  }
}

// api calls the farm: path below /v1/, query an object, body sent as JSON.
// It answers the decoded JSON (or text for text answers).
async function api(method, path, opts) {
  const o = opts || {};
  const url = new URL(path.replace(/^\/+/, ""), API_BASE);
  for (const [k, v] of Object.entries(o.query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = { Accept: "application/json", Authorization: "Bearer " + (o.token || session.token()) };
  let body;
  if (o.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(o.body);
  }
  const res = await fetch(url, { method, headers, body, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" });
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    const err = new APIError(res.status, data);
    if (res.status === 401 && !o.token) {
      signOut("The farm refused the token (" + err.message + "). Sign in again.");
    }
    throw err;
  }
  return data;
}

function showProblem(e) {
  const el = document.getElementById("problem");
  if (!e) { el.textContent = ""; return; }
  const msg = e instanceof APIError ? e.code + ": " + e.message + (e.requestID ? " (request " + e.requestID + ")" : "") : String(e.message || e);
  el.textContent = msg;
}

function refreshed() {
  document.getElementById("refreshed").textContent = "updated " + new Date().toLocaleTimeString();
  showProblem(null);
}

// The router: #/queue, #/jobs?status=..., #/jobs/ID, #/builders, #/pools.
const routes = [];
function route(pattern, render) { routes.push({ pattern, render }); }

let current = null; // {stop()} of the view on screen

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/queue";
  const [path, qs] = raw.split("?");
  return { path, params: new URLSearchParams(qs || "") };
}

function render() {
  if (current && current.stop) current.stop();
  current = null;
  const view = document.getElementById("view");
  view.replaceChildren();
  if (!session.me) return;
  const { path, params } = parseHash();
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", path.startsWith("/" + a.dataset.page));
  }
  for (const r of routes) {
    const m = path.match(r.pattern);
    if (m) {
      current = r.render(view, m.slice(1).map(decodeURIComponent), params) || null;
      return;
    }
  }
  replace(view, h("h1", { text: "Not found" }), h("p", {}, "Nothing at ", h("code", { text: path }), ". ", h("a", { href: "#/queue", text: "The queue" })));
}

// takeFragmentToken moves #token=T (optionally #token=T&/jobs/ID) into
// session storage and out of the address bar and the history.
function takeFragmentToken() {
  const m = location.hash.match(/^#token=([^&]*)(?:&(.*))?$/);
  if (!m) return;
  let token = "";
  try { token = decodeURIComponent(m[1]); } catch (e) { token = ""; }
  const next = m[2] && m[2].startsWith("/") ? m[2] : "/queue";
  history.replaceState(null, "", location.pathname + location.search + "#" + next);
  if (token) session.setToken(token);
}

async function signIn(token) {
  const me = await api("GET", "whoami", { token });
  session.setToken(token);
  session.me = me;
  showSignedIn();
}

function showSignedIn() {
  const me = session.me;
  document.getElementById("signin").hidden = !!me;
  document.getElementById("nav").hidden = !me;
  document.getElementById("who").hidden = !me;
  document.getElementById("view").hidden = !me;
  if (me) {
    document.getElementById("who-actor").textContent = me.actor;
    document.getElementById("who-role").textContent = me.role;
    document.body.dataset.role = me.role;
  } else {
    delete document.body.dataset.role;
    document.getElementById("token-input").focus();
  }
  render();
}

function signOut(why) {
  session.clear();
  document.getElementById("signin-error").textContent = why || "";
  showSignedIn();
}

async function start() {
  document.getElementById("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = document.getElementById("token-input");
    const token = input.value.trim();
    document.getElementById("signin-error").textContent = "";
    try {
      await signIn(token);
      input.value = "";
    } catch (e) {
      document.getElementById("signin-error").textContent = e instanceof APIError && e.status === 401
        ? "The farm does not know this token." : "Cannot sign in: " + e.message;
    }
  });
  document.getElementById("sign-out").addEventListener("click", () => signOut(""));
  window.addEventListener("hashchange", () => {
    if (location.hash.startsWith("#token=")) {
      takeFragmentToken();
      session.me = null;
      start2();
      return;
    }
    render();
  });
  takeFragmentToken();
  start2();
}

async function start2() {
  const token = session.token();
  if (!token) { showSignedIn(); return; }
  try {
    await signIn(token);
  } catch (e) {
    signOut(e instanceof APIError && e.status === 401
      ? "The farm refused the token. Sign in again." : "Cannot reach the farm: " + e.message);
  }
}

document.addEventListener("DOMContentLoaded", start);
