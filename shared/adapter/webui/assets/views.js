// views.js: the queue, the jobs list, the builders and the resource pools.
// Each view renders into the page and returns {stop()}, which ends its
// polling when another view replaces it.
"use strict";

const STATUSES = ["waiting", "queued", "running", "cancelling", "succeeded", "failed", "cancelled", "timed_out"];
const TYPES = ["script", "binary-build", "live-image-build", "recipe-build", "clean-resource"];

// The queue per pool, refreshed every 3 s.
route(/^\/queue$/, (view) => {
  const body = h("div", { id: "queue" });
  replace(view, h("h1", { text: "Queue" }), body,
    h("p", { class: "hint", text: "Time to start: how long the jobs that started in the last hour waited in the queue (p50 / p90)." }));
  const poll = new Poller(async () => {
    const q = await api("GET", "queue");
    const now = Date.now();
    const rows = q.pools.map((p) => h("tr", { dataset: { pool: p.pool } },
      td(h("a", { href: "#/jobs?pool=" + encodeURIComponent(p.pool), text: p.pool })),
      h("td", { class: "num" }, p.queued ? h("a", { href: "#/jobs?status=queued&pool=" + encodeURIComponent(p.pool), text: String(p.queued) }) : "0"),
      num(p.running), num(p.waiting),
      num(p.builders_idle), num(p.builders_busy), num(p.builders_unavailable), num(p.slots),
      h("td", { class: "num" }, p.oldest_wait_seconds > 0 ? fmtDuration(p.oldest_wait_seconds) : "-"),
      h("td", { class: "num", title: p.estimated_start_at || "" }, p.estimated_start_at ? fmtUntil(p.estimated_start_at, now) : "-"),
      h("td", { class: "num tts" }, p.started_last_hour ? fmtDuration(p.time_to_start_p50_seconds) + " / " + fmtDuration(p.time_to_start_p90_seconds) : "-"),
      num(p.started_last_hour)));
    replace(body, table([
      "Pool", { label: "Queued", num: true }, { label: "Running", num: true }, { label: "Waiting", num: true },
      { label: "Idle", num: true }, { label: "Busy", num: true }, { label: "Unavailable", num: true }, { label: "Slots", num: true },
      { label: "Oldest wait", num: true }, { label: "Next start", num: true }, { label: "Time to start p50 / p90", num: true },
      { label: "Started (1 h)", num: true },
    ], rows, "This farm serves no pools."));
    refreshed();
  }, 3000);
  return poll;
});

// The jobs list: filters and the page are in the fragment
// (#/jobs?status=failed&cursor=...), so a view can be linked to.
route(/^\/jobs$/, (view, _, params) => {
  const f = {
    status: params.get("status") || "", type: params.get("type") || "", pool: params.get("pool") || "",
    requested_by: params.get("requested_by") || "", cursor: params.get("cursor") || "",
  };
  const limit = Math.min(Math.max(parseInt(params.get("limit"), 10) || 25, 1), 500);
  const back = (params.get("back") || "").split(",").filter(Boolean); // cursors of the newer pages
  const input = (name, value, attrs) => h("input", Object.assign({ name, value, id: "filter-" + name }, attrs || {}));
  const select = (name, values, value) => h("select", { name, id: "filter-" + name },
    h("option", { value: "", text: "any" }), values.map((v) => h("option", { value: v, text: v, selected: v === value })));
  const form = h("form", { class: "filters", id: "job-filters" },
    h("label", {}, "Status", select("status", STATUSES, f.status)),
    h("label", {}, "Type", select("type", TYPES.includes(f.type) || !f.type ? TYPES : TYPES.concat([f.type]), f.type)),
    h("label", {}, "Pool", input("pool", f.pool, { placeholder: "any", size: 10 })),
    h("label", {}, "Requested by", input("requested_by", f.requested_by, { placeholder: "anyone", size: 28 })),
    h("button", { type: "submit", text: "Filter" }),
    h("button", { type: "button", class: "secondary", id: "filter-mine", text: "My jobs", onclick: () => {
      form.elements.requested_by.value = session.me.actor;
      form.requestSubmit();
    } }),
    h("button", { type: "button", class: "secondary", text: "Clear", onclick: () => { location.hash = "#/jobs"; } }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const k of ["status", "type", "pool", "requested_by"]) {
      const v = form.elements[k].value.trim();
      if (v) q.set(k, v);
    }
    location.hash = "#/jobs" + (q.toString() ? "?" + q : "");
  });
  const list = h("div", { id: "jobs" });
  const pager = h("div", { class: "pager" });
  replace(view, h("h1", { text: "Jobs" }), form, list, pager);

  const pageHash = (cursor, backs) => {
    const q = new URLSearchParams();
    for (const k of ["status", "type", "pool", "requested_by"]) if (f[k]) q.set(k, f[k]);
    if (limit !== 25) q.set("limit", limit);
    if (cursor) q.set("cursor", cursor);
    if (backs.length) q.set("back", backs.join(","));
    return "#/jobs" + (q.toString() ? "?" + q : "");
  };
  const poll = new Poller(async () => {
    const page = await api("GET", "jobs", { query: Object.assign({ limit }, f) });
    const now = Date.now();
    const rows = page.jobs.map((j) => h("tr", { dataset: { job: j.id, status: j.status } },
      td(jobLink(j.id)), td(j.type), td(badge(j.status)), td(j.pool), td(j.requested_by, { class: "mono" }),
      timeCell(j.created_at), td(j.status === "queued" && j.estimated_start_at ? "starts " + fmtUntil(j.estimated_start_at, now) : fmtDuration(j.duration_seconds)),
      td(j.builder || ""), num(j.attempts + "/" + j.max_attempts)));
    replace(list, table(["ID", "Type", "Status", "Pool", "Requested by", "Created", "Duration", "Builder", { label: "Attempts", num: true }],
      rows, "No jobs match."));
    replace(pager,
      h("button", { type: "button", class: "secondary", id: "page-newer", disabled: !f.cursor, text: "← Newer", onclick: () => {
        location.hash = pageHash(back[back.length - 1] === "-" ? "" : back[back.length - 1] || "", back.slice(0, -1));
      } }),
      h("button", { type: "button", class: "secondary", id: "page-older", disabled: !page.next_cursor, text: "Older →", onclick: () => {
        location.hash = pageHash(page.next_cursor, back.concat([f.cursor || "-"]));
      } }),
      h("span", { class: "muted", text: page.jobs.length + " jobs on this page" }));
    refreshed();
  }, 5000);
  return poll;
});

// Builders: state, heartbeat age, current jobs, failures; admins disable
// and enable them.
route(/^\/builders$/, (view) => {
  const body = h("div", { id: "builders" });
  replace(view, h("h1", { text: "Builders" }), body);
  let editing = false; // a reason being typed is not wiped by a refresh
  const poll = new Poller(async () => {
    if (editing) return;
    const { builders } = await api("GET", "builders");
    const admin = session.isAdmin();
    const rows = builders.map((b) => h("tr", { dataset: { builder: b.name, state: b.state } },
      td(h("strong", { text: b.name })), td(b.kind + " / " + b.arch), td(b.pools.join(", ")), num(b.slots),
      td(badge(b.state)), td(b.clean_status || ""),
      h("td", { class: "num heartbeat", title: b.last_heartbeat || "" }, b.last_heartbeat ? fmtAgo(b.last_heartbeat) : "never"),
      td(b.current_jobs.length ? b.current_jobs.map((id, i) => [i ? " " : "", jobLink(id)]) : ""),
      num(b.consecutive_failures + " / " + b.total_failures), num(b.jobs_completed),
      td(b.disabled_reason || ""),
      admin ? td(builderActions(b, (v) => { editing = v; }, () => poll.now())) : null));
    const headers = ["Name", "Kind / arch", "Pools", { label: "Slots", num: true }, "State", "Clean", { label: "Heartbeat", num: true },
      "Current jobs", { label: "Failures (in a row / all)", num: true }, { label: "Jobs done", num: true }, "Disabled because"];
    if (admin) headers.push("Admin");
    replace(body, table(headers, rows, "No builder has registered yet."));
    refreshed();
  }, 3000);
  return poll;
});

function builderActions(b, setEditing, refresh) {
  const call = async (action, reason) => {
    try {
      await api("POST", "builders/" + encodeURIComponent(b.name) + "/" + action, { body: { reason } });
    } catch (e) {
      showProblem(e);
    }
    setEditing(false);
    refresh();
  };
  if (b.disabled) {
    return h("button", { type: "button", class: "secondary enable", dataset: { action: "enable" }, text: "Enable", onclick: () => call("enable", "enabled from the web page") });
  }
  const reason = h("input", {
    placeholder: "reason", "aria-label": "reason to disable " + b.name, class: "reason-input",
    onfocus: () => setEditing(true),
    onblur: () => { if (!reason.value) setEditing(false); },
  });
  const form = h("form", { class: "reason" }, reason,
    h("button", { type: "submit", class: "danger disable", dataset: { action: "disable" }, text: "Disable" }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    call("disable", reason.value.trim() || "disabled from the web page by " + session.me.actor);
  });
  return form;
}

// Resource pools and the state of each resource.
route(/^\/pools$/, (view) => {
  const body = h("div", { id: "pools" });
  replace(view, h("h1", { text: "Resource pools" }), body);
  const poll = new Poller(async () => {
    const { pools } = await api("GET", "resource-pools");
    const views = await Promise.all(pools.map((p) => api("GET", "resource-pools/" + encodeURIComponent(p.name))));
    if (!views.length) {
      replace(body, h("div", { class: "empty", text: "No resource pools. An admin creates them with PUT /v1/resource-pools/{pool} (farmctl pools put)." }));
      refreshed();
      return;
    }
    replace(body, views.map((p) => {
      const counts = {};
      for (const r of p.resources) counts[r.state] = (counts[r.state] || 0) + 1;
      return h("section", { dataset: { pool: p.name } },
        h("h2", {}, p.name, " ", h("span", { class: "muted", text: Object.entries(counts).map(([s, n]) => n + " " + s).join(", ") })),
        p.description ? h("p", { text: p.description }) : null,
        table(["Resource", "State", "Holder", "Lease expires", "Clean job", "Attributes", "Flagged"],
          p.resources.map((r) => h("tr", { dataset: { resource: r.name, state: r.state } },
            td(h("strong", { text: r.name })), td(badge(r.state)), td(r.holder || ""),
            timeCell(r.lease_expires_at, (iso) => fmtUntil(iso)), td(r.clean_job_id ? jobLink(r.clean_job_id) : ""),
            td(Object.entries(r.attributes || {}).map(([k, v]) => k + "=" + v).join(" "), { class: "mono" }),
            td(r.flagged || "", { class: r.flagged ? "error" : null }))),
          "No resources in this pool."));
    }));
    refreshed();
  }, 10000);
  return poll;
});
