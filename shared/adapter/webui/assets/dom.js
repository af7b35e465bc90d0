// dom.js: building the page without markup. Every value the farm returns
// is put into the page as text (text nodes, textContent, attributes set one
// by one), never parsed as HTML: a payload or log holding markup is shown,
// not run.
"use strict";

// h makes an element. attrs: class, text, on<Event> handlers, dataset
// (object), anything else as an attribute. children: nodes or strings
// (strings become text nodes); null and false are skipped.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = String(v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// replace swaps el's children for new ones.
function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

function badge(state) {
  return h("span", { class: "badge st-" + String(state || "").replace(/[^a-z_]/g, ""), text: state || "-" });
}

function jobLink(id) {
  return h("a", { href: "#/jobs/" + encodeURIComponent(id), class: "mono", text: id });
}

function table(headers, rows, empty) {
  if (!rows.length) return h("div", { class: "empty", text: empty || "Nothing here." });
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((c) => h("th", { class: c.num ? "num" : null, text: c.label || c })))),
    h("tbody", {}, rows));
}

function td(value, opts) {
  return h("td", Object.assign({}, opts || {}), value === "" || value === undefined || value === null ? "-" : value);
}

function num(n) {
  return h("td", { class: "num" }, n === undefined || n === null ? "-" : String(n));
}

// Times and durations, for people.

function fmtDuration(seconds) {
  if (seconds === undefined || seconds === null || isNaN(seconds)) return "";
  const s = Math.abs(seconds);
  if (s < 1) return Math.round(s * 1000) + "ms";
  if (s < 60) return (Math.round(s * 10) / 10) + "s";
  const m = Math.floor(s / 60), rest = Math.round(s % 60);
  if (m < 60) return m + "m" + (rest ? rest + "s" : "");
  const hours = Math.floor(m / 60);
  return hours + "h" + (m % 60 ? (m % 60) + "m" : "");
}

function fmtAgo(iso, now) {
  if (!iso) return "";
  const d = ((now || Date.now()) - Date.parse(iso)) / 1000;
  if (d < 0) return "in " + fmtDuration(-d);
  return fmtDuration(d) + " ago";
}

function fmtUntil(iso, now) {
  if (!iso) return "";
  const d = (Date.parse(iso) - (now || Date.now())) / 1000;
  return d <= 0 ? "now" : "in " + fmtDuration(d);
}

function timeCell(iso, render) {
  if (!iso) return td("");
  return h("td", { title: iso }, (render || fmtAgo)(iso));
}

function fmtBytes(n) {
  if (n < 1024) return n + " B";
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (Math.round(v * 10) / 10) + " " + units[i];
}

// logDelta returns what cur, the log read now, adds to prev, the log read
// before (both may be windows of a longer log: the tail while a job runs).
// skipped: cur could not be placed after prev (then all of cur is new).
function logDelta(prev, cur) {
  if (cur.startsWith(prev)) return { delta: cur.slice(prev.length), skipped: false };
  const anchor = prev.length > 1024 ? prev.slice(prev.length - 1024) : prev;
  const i = cur.indexOf(anchor);
  if (i >= 0) return { delta: cur.slice(i + anchor.length), skipped: false };
  return { delta: cur, skipped: true };
}

// Poller runs fn now and then every interval ms (fn may return another
// interval, or false to end) until stopped; it skips beats while the tab
// is hidden.
class Poller {
  constructor(fn, interval) {
    this.fn = fn;
    this.interval = interval;
    this.timer = null;
    this.stopped = false;
    this.beat();
  }
  async beat() {
    if (this.stopped) return;
    let next = this.interval;
    if (!document.hidden) {
      try {
        const r = await this.fn();
        if (typeof r === "number") next = r;
        if (r === false) this.stopped = true;
      } catch (e) {
        showProblem(e);
      }
    }
    if (!this.stopped) this.timer = setTimeout(() => this.beat(), next);
  }
  // now beats at once, and starts a poller whose fn had ended it again
  // (a retried job is followed anew); never one its view stopped.
  now() {
    if (this.dead) return;
    clearTimeout(this.timer);
    this.stopped = false;
    this.beat();
  }
  stop() {
    this.stopped = this.dead = true;
    clearTimeout(this.timer);
  }
}
