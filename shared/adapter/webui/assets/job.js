// job.js: one job — its fields, history, a log that follows while the job
// runs, its artifacts, and cancel/retry for those allowed to.
"use strict";

const ACTIVE = ["running", "cancelling"];
const TERMINAL = ["succeeded", "failed", "cancelled", "timed_out"];

route(/^\/jobs\/([0-9A-Za-z]+)$/, (view, [id]) => {
  const title = h("h1", {}, "Job ", h("span", { class: "mono", text: id }), " ", h("span", { id: "job-status" }));
  const actions = h("div", { class: "actions", id: "job-actions" });
  const fields = h("dl", { class: "fields", id: "job-fields" });
  const payload = h("pre", { class: "block", id: "job-payload" });
  const history = h("div", { id: "job-history" });
  const artifacts = h("div", { id: "job-artifacts" });
  const follow = h("input", { type: "checkbox", id: "log-follow", checked: true });
  const logState = h("span", { class: "muted", id: "log-state" });
  const log = h("pre", { class: "log", id: "log" });
  replace(view, title, actions,
    h("div", { class: "grid2" },
      h("div", {}, h("h2", { text: "Job" }), fields),
      h("div", {}, h("h2", { text: "Payload" }), payload, h("h2", { text: "History" }), history)),
    h("div", { class: "logbar" }, h("h2", { text: "Log" }), h("label", {}, follow, " follow"), logState),
    log,
    h("h2", { text: "Artifacts" }), artifacts);

  let job = null;
  let logText = "";
  let logDone = false;
  let busy = false;

  const showJob = (j) => {
    job = j;
    replace(document.getElementById("job-status"), badge(j.status));
    view.dataset.status = j.status;
    replace(fields, jobFields(j));
    payload.textContent = JSON.stringify(j.payload, null, 2);
    showActions(j);
  };

  const showActions = (j) => {
    const buttons = [];
    if (session.mayManage(j) && ["waiting", "queued", "running"].includes(j.status)) {
      buttons.push(h("button", { type: "button", class: "danger", id: "cancel-job", text: "Cancel", onclick: () => act("cancel") }));
    }
    if (session.mayManage(j) && ["failed", "cancelled", "timed_out"].includes(j.status)) {
      buttons.push(h("button", { type: "button", id: "retry-job", text: "Retry", onclick: () => act("retry") }));
    }
    replace(actions, buttons);
  };

  const act = async (action) => {
    if (busy) return;
    busy = true;
    for (const b of actions.querySelectorAll("button")) b.disabled = true;
    try {
      showJob(await api("POST", "jobs/" + encodeURIComponent(id) + "/" + action));
      if (action === "retry") { logText = ""; log.replaceChildren(); logDone = false; }
      jobPoll.now();
      logPoll.now();
    } catch (e) {
      showProblem(e);
      showActions(job);
    }
    busy = false;
  };

  // The job and its history: every 2 s until it ends, then once more for
  // its artifacts.
  const jobPoll = new Poller(async () => {
    const [j, ev] = await Promise.all([api("GET", "jobs/" + encodeURIComponent(id)), api("GET", "jobs/" + encodeURIComponent(id) + "/events")]);
    showJob(j);
    replace(history, table(["When", "Change", "By", "Detail"], ev.events.map((e) => h("tr", {},
      timeCell(e.at), td([e.from ? [badge(e.from), " → "] : "", badge(e.to)]), td(e.actor, { class: "mono" }), td(e.detail || "")))));
    if (j.artifacts && j.artifacts.length || TERMINAL.includes(j.status)) {
      const list = await api("GET", "jobs/" + encodeURIComponent(id) + "/artifacts");
      showArtifacts(list.artifacts);
    }
    refreshed();
    return TERMINAL.includes(j.status) && logDone ? false : 2000;
  }, 2000);

  const showArtifacts = (list) => {
    replace(artifacts, table(["Name", { label: "Attempt", num: true }, { label: "Size", num: true }, "SHA-256", ""],
      list.map((a) => h("tr", { dataset: { artifact: a.name, attempt: a.attempt } },
        td(h("span", { class: "mono", text: a.name })), num(a.attempt), num(fmtBytes(a.size)),
        td(h("span", { class: "mono", title: a.sha256, text: a.sha256 ? a.sha256.slice(0, 16) + "…" : "" })),
        td(h("a", { href: "#", class: "download", text: "Download", onclick: (ev) => { ev.preventDefault(); download(a); } })))),
      "No artifacts."));
  };

  // A navigation cannot carry the bearer token: ask for the presigned
  // download (it lives minutes and needs no token), then go there.
  const download = async (a) => {
    try {
      const d = await api("GET", "jobs/" + encodeURIComponent(id) + "/artifacts/" + a.name.split("/").map(encodeURIComponent).join("/"),
        { query: { attempt: a.attempt, redirect: "false" } });
      location.assign(d.url);
    } catch (e) {
      showProblem(e);
    }
  };

  // The log: the tail while the job runs (each read adds what is new), the
  // stored full log once it ended.
  const logPoll = new Poller(async () => {
    if (!job) return 300;
    const ended = TERMINAL.includes(job.status);
    let text;
    try {
      text = await api("GET", "jobs/" + encodeURIComponent(id) + "/log");
    } catch (e) {
      logState.textContent = "log unavailable: " + e.message;
      return ended ? false : 3000;
    }
    if (typeof text !== "string") text = "";
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    if (ended) {
      log.textContent = text;
      logDone = true;
    } else {
      const { delta, skipped } = logDelta(logText, text);
      if (skipped && logText) log.append(document.createTextNode("\n[… output went by between two reads …]\n"));
      if (delta) log.append(document.createTextNode(delta));
    }
    logText = text;
    logState.textContent = ended ? "complete" : ACTIVE.includes(job.status) ? "following (live)" : "waiting for the job to start";
    if (follow.checked && (atBottom || !ended)) log.scrollTop = log.scrollHeight;
    if (ended) {
      jobPoll.now();
      return false;
    }
    return ACTIVE.includes(job.status) ? 1000 : 2000;
  }, 1000);

  return { stop() { jobPoll.stop(); logPoll.stop(); } };
});

function jobFields(j) {
  const now = Date.now();
  const rows = [
    ["Type", j.type], ["Status", badge(j.status)], ["Pool", j.pool],
    ["Score", j.score + (j.score_pinned ? " (pinned)" : "") + (j.priority ? ", priority " + j.priority : "")],
    ["Requested by", h("span", { class: "mono", text: j.requested_by })],
    ["Created", j.created_at], ["Queued", j.queued_at || ""],
    ["Queue position", j.status === "queued" && j.queue_position ? "#" + j.queue_position : ""],
    ["Estimated start", j.status === "queued" && j.estimated_start_at ? fmtUntil(j.estimated_start_at, now) + " (" + j.estimated_start_at + ")" : ""],
    ["Started", j.started_at || ""], ["Time to start", fmtDuration(j.time_to_start_seconds)],
    ["Finished", j.finished_at || ""], ["Duration", fmtDuration(j.duration_seconds)],
    ["Attempts", j.attempts + " of " + j.max_attempts + (j.run ? " (run " + j.run + ")" : "")],
    ["Timeout", fmtDuration(j.timeout_seconds)],
    ["Builder", j.builder || ""], ["Progress", TERMINAL.includes(j.status) ? "" : j.progress || ""],
    ["Result", j.result || ""], ["Exit code", j.exit_code === undefined || j.exit_code === null ? "" : String(j.exit_code)],
    ["Error", j.error ? h("span", { class: "error", text: j.error }) : ""],
    ["Parent", j.parent_id ? jobLink(j.parent_id) : ""],
    ["Depends on", j.depends_on && j.depends_on.length ? j.depends_on.map((d, i) => [i ? " " : "", jobLink(d)]) : ""],
    ["Waiting for", j.status === "waiting" && j.waiting_for && j.waiting_for.length ? j.waiting_for.map((d, i) => [i ? " " : "", jobLink(d)]) : ""],
    ["Expires", j.expires_at || ""],
    ["Idempotency key", j.idempotency_key || ""],
  ];
  return rows.filter(([, v]) => v !== "" && v !== undefined && v !== null)
    .map(([k, v]) => [h("dt", { text: k }), h("dd", { dataset: { field: k.toLowerCase().replace(/ /g, "_") } }, v)]);
}
