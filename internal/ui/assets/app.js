// The aiflow web UI: a single page over the runner's JSON API (internal/ui). Every value from the
// store or a spec reaches the page as text (textContent, attribute values set one by one), never
// as markup, and the server's Content-Security-Policy forbids inline scripts besides.
import { author } from "./author.js";
import { h, api, status, fmtTime, fmtDur, fmtBytes, fmtNum, drawGraph, clear } from "./lib.js";

const main = document.getElementById("main");
export const session = { me: null };

async function boot() {
  session.me = await api("/api/me");
  const u = session.me.user;
  document.getElementById("who").textContent =
    u.name + (u.admin ? " (all teams)" : u.teams.length ? " · " + u.teams.join(", ") : " · no team");
  window.addEventListener("hashchange", route);
  route();
}

async function route() {
  const parts = (location.hash.replace(/^#\/?/, "") || "pipelines").split("/").map(decodeURIComponent);
  for (const a of document.querySelectorAll("header nav a")) {
    a.classList.toggle("active", a.getAttribute("href") === "#/" + parts[0]);
  }
  clear(main);
  delete main.dataset.ready;
  try {
    switch (parts[0]) {
      case "pipelines": await pipelinesPage(); break;
      case "p": await pipelinePage(parts[1]); break;
      case "runs": await runsPage(); break;
      case "streams": await streamsPage(); break;
      case "run": await runPage(parts[1], parts[2]); break;
      case "lineage": await lineagePage(); break;
      case "usage": await usagePage(); break;
      case "author": await author(main, parts[1] || "", session); break;
      default: main.append(h("p", {}, "No such page."));
    }
  } catch (e) {
    main.append(h("p", { className: "err" }, String(e.message || e)));
  }
  main.dataset.ready = parts[0];
}

function link(href, text, cls) { return h("a", { href, className: cls || "" }, text); }

function table(cols, rows) {
  return h("table", {},
    h("thead", {}, h("tr", {}, ...cols.map(c => h("th", { className: c.num ? "num" : "" }, c.title)))),
    h("tbody", {}, ...rows.map(r => h("tr", {}, ...cols.map(c => {
      const v = c.get(r);
      return h("td", { className: c.num ? "num" : "" }, v == null ? "" : v);
    })))));
}

async function pipelinesPage() {
  const all = await api("/api/pipelines");
  main.append(h("h1", {}, "Pipelines"));
  const f = { team: "", env: "", project: "" };
  const filters = h("div", { className: "filters" });
  const body = h("div", {});
  for (const k of Object.keys(f)) {
    const vals = [...new Set(all.map(p => p[k]).filter(Boolean))].sort();
    const sel = h("select", { id: "filter-" + k, onchange: () => { f[k] = sel.value; render(); } },
      h("option", { value: "" }, "any " + k), ...vals.map(v => h("option", { value: v }, v)));
    filters.append(sel);
  }
  main.append(filters, body);
  function render() {
    clear(body);
    const ps = all.filter(p => Object.keys(f).every(k => !f[k] || p[k] === f[k]));
    if (!ps.length) { body.append(h("p", { className: "muted" }, "No pipelines recorded (run one, or `aiflow-runner pipelines record PATH`).")); return; }
    body.append(table([
      { title: "pipeline", get: p => link("#/p/" + encodeURIComponent(p.pipeline), p.pipeline, "pipeline-link") },
      { title: "team", get: p => p.team }, { title: "env", get: p => p.env }, { title: "project", get: p => p.project },
      { title: "schedule", get: p => p.schedule || "—" }, { title: "owner", get: p => p.owner },
      { title: "nodes", num: true, get: p => p.nodes },
      { title: "mode", get: p => p.mode === "streaming" ? h("span", {}, "streaming ", jobState(p.stream_state || "not deployed")) : p.mode },
      { title: "last run", get: p => p.last_run ? h("span", {}, status(p.last_run.status), " ",
          link("#/run/" + encodeURIComponent(p.pipeline) + "/" + encodeURIComponent(p.last_run.run_id), p.last_run.run_id, "run-link"),
          h("span", { className: "muted" }, " " + fmtTime(p.last_run.started_at))) : h("span", { className: "muted" }, "never") },
      { title: "versions", num: true, get: p => p.versions },
    ], ps));
  }
  render();
}

async function pipelinePage(id) {
  const d = await api("/api/pipelines/" + encodeURIComponent(id));
  const p = d.pipeline;
  main.append(h("h1", {}, "Pipeline ", h("span", { id: "pipeline-id" }, p.pipeline)));
  main.append(h("div", { className: "kv" },
    h("div", {}, "team / env"), h("div", {}, (p.team || "—") + " / " + (p.env || "—") + (p.project ? " · project " + p.project : "") + (p.cost_center ? " · cost center " + p.cost_center : "")),
    h("div", {}, "schedule"), h("div", {}, d.schedule || "unscheduled"),
    h("div", {}, "owner"), h("div", {}, d.owner || "—"),
    h("div", {}, "ir_hash"), h("div", { className: "cmd" }, d.ir_hash)));
  const panel = h("div", { className: "panel", id: "node-panel" }, h("p", { className: "muted" }, "Click a node for its params, resources and last attempts."));
  const graph = h("div", { className: "graph", id: "pipeline-graph" });
  main.append(h("div", { className: "split" }, graph, panel));
  const nodes = d.nodes.map(n => ({ id: n.id, cls: n.type, title: n.id, sub: n.type + " · " + (n.plugin || "?"), sub2: n.dataset || "" }));
  const edges = (d.edges || []).map(([a, b]) => ({ from: a, to: b }));
  drawGraph(graph, nodes, edges, async (nid) => showNode(panel, id, d.nodes.find(n => n.id === nid)));
  if (d.mode === "streaming" || d.stream) main.append(streamSection(d));
  main.append(h("h2", {}, "Recent runs"));
  main.append(runsTable(d.runs));
}

// jobState is a streaming job's state (Flink's, or DEPLOYING / STOPPED / UNKNOWN as the stream
// commands record them) with the colour of what it means for the pipeline.
function jobState(s) {
  const cls = { RUNNING: "passed", FAILED: "failed", CANCELED: "failed", UNKNOWN: "failed", SUSPENDED: "warned",
    DEPLOYING: "running", CREATED: "running", INITIALIZING: "running", RESTARTING: "running" }[s] || "";
  return h("span", { className: "status job-state " + cls }, s || "—");
}

// streamSection is a streaming pipeline's job: what runs, from which savepoint it would resume,
// and what the stream commands did to it.
function streamSection(d) {
  const box = h("div", { id: "stream-job" }, h("h2", {}, "Streaming job"));
  if (!d.stream) {
    box.append(h("p", { className: "muted" }, "Not deployed: the DAG's stream_deploy task (aiflow-runner stream deploy) starts its Flink job."));
    return box;
  }
  const j = d.stream.job;
  box.append(h("div", { className: "kv" },
    h("div", {}, "state"), h("div", {}, jobState(j.state), j.message ? h("span", { className: "muted" }, " " + j.message) : ""),
    h("div", {}, "Flink job id"), h("div", { className: "cmd", id: "stream-job-id" }, j.job_id || "— (none running)"),
    h("div", {}, "runs ir_hash"), h("div", {}, h("span", { className: "cmd" }, j.ir_hash),
      d.stream.behind ? h("span", { className: "status warned behind", id: "stream-behind" }, "not the latest version: the next deploy upgrades it") : ""),
    h("div", {}, "resumes from"), h("div", { className: "cmd", id: "stream-savepoint" }, j.savepoint || "— (no savepoint yet)"),
    h("div", {}, "deployed"), h("div", {}, j.deployed_at ? fmtTime(j.deployed_at) : "—"),
    h("div", {}, "stopped"), h("div", {}, j.stopped_at ? fmtTime(j.stopped_at) : "—"),
    h("div", {}, "last checked"), h("div", {}, j.checked_at ? fmtTime(j.checked_at) : "—")));
  if (d.stream.loads.length) {
    // A lake sink's rows reach its table through the load_<sink> tasks, each a run of
    // the batch pipeline <pipeline>__load_<sink>.
    box.append(h("h2", {}, "Lake sink loads"), h("div", { id: "stream-loads" }, table([
      { title: "load pipeline", get: l => link("#/p/" + encodeURIComponent(l.pipeline), l.pipeline, "pipeline-link") },
      { title: "last run", get: l => l.last_run ? h("span", {}, status(l.last_run.status), " ",
          link("#/run/" + encodeURIComponent(l.pipeline) + "/" + encodeURIComponent(l.last_run.run_id), l.last_run.run_id, "run-link"),
          h("span", { className: "muted" }, " " + fmtTime(l.last_run.started_at))) : h("span", { className: "muted" }, "never") },
    ], d.stream.loads)));
  }
  box.append(h("h2", {}, "Latest events"), h("div", { id: "stream-events" }, eventsTable(d.stream.events)));
  return box;
}

function eventsTable(evs) {
  if (!evs.length) return h("p", { className: "muted" }, "No events.");
  return table([
    { title: "at", get: e => fmtTime(e.at) }, { title: "action", get: e => e.action },
    { title: "state", get: e => e.state ? jobState(e.state) : "" }, { title: "job id", get: e => h("span", { className: "cmd" }, e.job_id || "") },
    { title: "ir_hash", get: e => h("span", { className: "cmd" }, (e.ir_hash || "").slice(0, 12)) },
    { title: "savepoint", get: e => h("span", { className: "cmd" }, e.savepoint || "") }, { title: "message", get: e => e.message || "" },
  ], evs);
}

async function streamsPage() {
  const js = await api("/api/streams");
  main.append(h("h1", {}, "Streaming jobs"));
  if (!js.length) { main.append(h("p", { className: "muted" }, "No streaming pipeline deployed (aiflow-runner stream deploy).")); return; }
  main.append(h("div", { id: "streams" }, table([
    { title: "pipeline", get: j => link("#/p/" + encodeURIComponent(j.pipeline), j.pipeline, "pipeline-link") },
    { title: "team", get: j => j.team }, { title: "state", get: j => jobState(j.state) },
    { title: "Flink job id", get: j => h("span", { className: "cmd" }, j.job_id || "—") },
    { title: "ir_hash", get: j => h("span", {}, h("span", { className: "cmd" }, j.ir_hash.slice(0, 12)), j.behind ? h("span", { className: "status warned behind" }, "behind") : "") },
    { title: "resumes from", get: j => h("span", { className: "cmd" }, j.savepoint || "—") },
    { title: "last event", get: j => j.last_event ? j.last_event.action + " · " + fmtTime(j.last_event.at) : "" },
    { title: "checked", get: j => j.checked_at ? fmtTime(j.checked_at) : "—" },
  ], js)));
}

async function showNode(panel, pipeline, n) {
  clear(panel);
  panel.dataset.node = n.id;
  panel.append(h("h2", {}, n.id),
    h("div", { className: "kv" },
      h("div", {}, "type"), h("div", {}, n.type),
      h("div", {}, "plugin"), h("div", {}, n.plugin || "—"),
      h("div", {}, "engine"), h("div", {}, n.engine || "(default)"),
      h("div", {}, "dataset"), h("div", {}, n.dataset || "—"),
      h("div", {}, "inputs"), h("div", {}, (n.inputs || []).join(", ") || "—")),
    h("h2", {}, "Params"), h("pre", { className: "params" }, JSON.stringify(n.params, null, 2)),
    h("h2", {}, "Resources"), h("pre", {}, JSON.stringify(n.resources || {}, null, 2)));
  if (n.output_schema) panel.append(h("h2", {}, "Output schema"), h("pre", {}, JSON.stringify(n.output_schema, null, 2)));
  const att = h("div", { id: "node-attempts" }, h("p", { className: "muted" }, "Loading attempts…"));
  panel.append(h("h2", {}, "Last attempts"), att);
  const as = await api("/api/pipelines/" + encodeURIComponent(pipeline) + "/nodes/" + encodeURIComponent(n.id) + "/attempts?limit=30");
  clear(att);
  if (!as.length) { att.append(h("p", { className: "muted" }, "No attempts recorded.")); return; }
  const secs = as.map(a => a.ended_at ? (Date.parse(a.ended_at) - Date.parse(a.started_at)) / 1000 : 0);
  const max = Math.max(...secs, 0.001);
  att.append(table([
    { title: "run", get: a => link("#/run/" + encodeURIComponent(a.pipeline) + "/" + encodeURIComponent(a.run_id), a.run_id + "#" + a.try, "run-link") },
    { title: "status", get: a => status(a.status) },
    { title: "exit", num: true, get: a => a.exit_code },
    { title: "duration", get: (a) => { const s = a.ended_at ? (Date.parse(a.ended_at) - Date.parse(a.started_at)) / 1000 : 0;
        return h("div", {}, fmtDur(s), h("div", { className: "bar", style: "width:" + Math.round(100 * s / max) + "%" })); } },
  ], as));
}

function runsTable(runs) {
  if (!runs.length) return h("p", { className: "muted" }, "No runs.");
  return table([
    { title: "run", get: r => link("#/run/" + encodeURIComponent(r.pipeline) + "/" + encodeURIComponent(r.run_id), r.run_id, "run-link") },
    { title: "pipeline", get: r => link("#/p/" + encodeURIComponent(r.pipeline), r.pipeline) },
    { title: "team", get: r => r.team },
    { title: "status", get: r => status(r.status) },
    { title: "started", get: r => fmtTime(r.started_at) },
    { title: "duration", num: true, get: r => r.ended_at ? fmtDur((Date.parse(r.ended_at) - Date.parse(r.started_at)) / 1000) : "" },
  ], runs);
}

async function runsPage() {
  main.append(h("h1", {}, "Runs"));
  const q = { pipeline: "", status: "" };
  const pipes = await api("/api/pipelines");
  const body = h("div", {});
  const selP = h("select", { id: "runs-pipeline", onchange: () => { q.pipeline = selP.value; load(); } },
    h("option", { value: "" }, "any pipeline"), ...pipes.map(p => h("option", { value: p.pipeline }, p.pipeline)));
  const selS = h("select", { id: "runs-status", onchange: () => { q.status = selS.value; load(); } },
    ...["", "running", "succeeded", "failed"].map(s => h("option", { value: s }, s || "any status")));
  main.append(h("div", { className: "filters" }, selP, selS), body);
  async function load() {
    const runs = await api("/api/runs?" + new URLSearchParams({ ...q, limit: "100" }));
    clear(body);
    body.append(runsTable(runs));
  }
  await load();
}

async function runPage(pipeline, runID) {
  let answer;
  try {
    answer = await api("/api/runs/" + encodeURIComponent(pipeline) + "/" + encodeURIComponent(runID));
  } catch (e) {
    if (e.status === 404 && e.data && e.data.unknown_run) { unknownRunPage(e.message, e.data.unknown_run); return; }
    throw e;
  }
  const { run: d, replay } = answer;
  main.append(h("h1", {}, "Run ", h("span", { id: "run-id" }, d.run_id), " ", status(d.status)));
  main.append(h("div", { className: "kv" },
    h("div", {}, "pipeline"), h("div", {}, link("#/p/" + encodeURIComponent(d.pipeline), d.pipeline)),
    h("div", {}, "team"), h("div", {}, d.team || "—"),
    h("div", {}, "logical date"), h("div", {}, d.logical_date ? fmtTime(d.logical_date) : "—"),
    h("div", {}, "started"), h("div", {}, fmtTime(d.started_at)),
    h("div", {}, "ended"), h("div", {}, d.ended_at ? fmtTime(d.ended_at) : "—"),
    h("div", {}, "ir_hash"), h("div", { className: "cmd" }, d.ir_hash)));
  main.append(h("h2", {}, "Node attempts"));
  main.append(h("div", { id: "run-attempts" }, table([
    { title: "node", get: a => a.node }, { title: "try", num: true, get: a => a.try },
    { title: "status", get: a => status(a.status) }, { title: "exit", num: true, get: a => a.exit_code },
    { title: "error", get: a => a.error_class ? h("span", {}, h("b", {}, a.error_class), " ", a.error_message) : "" },
    { title: "engine", get: a => a.engine },
    { title: "rows in", num: true, get: a => fmtNum(a.rows_in) }, { title: "rows out", num: true, get: a => fmtNum(a.rows_out) },
    { title: "bytes in", num: true, get: a => fmtBytes(a.bytes_in) }, { title: "bytes out", num: true, get: a => fmtBytes(a.bytes_out) },
    { title: "duration", num: true, get: a => a.ended_at ? fmtDur((Date.parse(a.ended_at) - Date.parse(a.started_at)) / 1000) : "" },
  ], d.attempts)));
  if (d.checks && d.checks.length) {
    main.append(h("h2", {}, "Checks"), table([
      { title: "node", get: c => c.node }, { title: "check", get: c => c.name }, { title: "kind", get: c => c.kind },
      { title: "status", get: c => status(c.status) }, { title: "observed", num: true, get: c => c.observed }, { title: "message", get: c => c.message },
    ], d.checks));
  }
  main.append(h("h2", {}, "Pinned inputs"), d.pins.length ? table([
    { title: "node", get: p => p.node + "#" + p.try }, { title: "input", get: p => p.input },
    { title: "pin", get: p => h("pre", {}, JSON.stringify(p.pin, null, 2)) },
  ], d.pins) : h("p", { className: "muted" }, "None."));
  main.append(h("h2", {}, "Committed outputs"), d.commits.length ? table([
    { title: "node", get: c => c.node + "#" + c.try }, { title: "committed", get: c => fmtTime(c.committed_at) },
    { title: "manifest", get: c => h("pre", {}, JSON.stringify(c.manifest, null, 2)) },
  ], d.commits) : h("p", { className: "muted" }, "None."));
  main.append(h("h2", {}, "Replay a node"), h("div", { id: "replay" }, ...replay.map(r => h("div", { className: "cmd" }, r.command))));
}

// unknownRunPage: a run id the store does not hold (misspelt, cut short, another pipeline's, or
// another team's): what the server suggests, as the CLI would, and the latest runs to pick from.
function unknownRunPage(message, u) {
  main.append(h("h1", {}, "Unknown run ", h("span", { id: "unknown-run-id" }, u.run_id)));
  main.append(h("p", { id: "unknown-run", className: "err" }, message));
  const s = u.suggestion || {};
  if (s.run_id) {
    main.append(h("p", { id: "run-suggestion" }, "Did you mean ",
      link("#/run/" + encodeURIComponent(s.pipeline) + "/" + encodeURIComponent(s.run_id), s.run_id, "run-link"),
      " of pipeline ", link("#/p/" + encodeURIComponent(s.pipeline), s.pipeline, "pipeline-link"), "?"));
  } else if (s.pipeline) {
    main.append(h("p", { id: "run-suggestion" }, "Did you mean pipeline ",
      link("#/p/" + encodeURIComponent(s.pipeline), s.pipeline, "pipeline-link"), "?"));
  }
  if (u.recent && u.recent.length) {
    main.append(h("h2", {}, "Latest runs of ", u.recent_of), h("div", { id: "recent-runs" }, runsTable(u.recent)));
  }
  main.append(h("p", {}, link("#/runs", "All runs")));
}

async function lineagePage() {
  main.append(h("h1", {}, "Lineage"));
  const days = h("select", { id: "lineage-days", onchange: () => load() },
    ...[7, 30, 90, 365].map(d => h("option", { value: d, selected: d === 30 }, "last " + d + " days")));
  const box = h("div", { className: "graph", id: "lineage-graph" });
  const list = h("div", {});
  main.append(h("div", { className: "filters" }, days), box, h("h2", {}, "Edges"), list);
  async function load() {
    const es = await api("/api/lineage?days=" + days.value);
    clear(box); clear(list);
    if (!es.length) { box.append(h("p", { className: "muted", style: "padding:10px" }, "No lineage recorded in this period.")); return; }
    // Tables are the nodes; a pipeline node that reads a table and writes another is an edge
    // between them. A node that only reads or only writes is drawn as a small job box.
    const ds = new Map(), jobs = new Map();
    for (const e of es) {
      const dk = e.namespace + "/" + e.name;
      ds.set(dk, { id: "d:" + dk, cls: "dataset", title: e.name, sub: e.namespace });
      const jk = e.pipeline + "/" + e.node;
      if (!jobs.has(jk)) jobs.set(jk, { reads: [], writes: [], pipeline: e.pipeline, node: e.node });
      jobs.get(jk)[e.direction === "read" ? "reads" : "writes"].push("d:" + dk);
    }
    const nodes = [...ds.values()], edges = [];
    for (const [jk, j] of jobs) {
      if (j.reads.length && j.writes.length) {
        for (const a of j.reads) for (const b of j.writes) edges.push({ from: a, to: b, label: jk });
      } else {
        nodes.push({ id: "j:" + jk, cls: "transform", title: j.node, sub: j.pipeline });
        for (const a of j.reads) edges.push({ from: a, to: "j:" + jk });
        for (const b of j.writes) edges.push({ from: "j:" + jk, to: b });
      }
    }
    drawGraph(box, nodes, edges, null);
    list.append(table([
      { title: "dataset", get: e => e.namespace + " " + e.name }, { title: "direction", get: e => e.direction },
      { title: "pipeline", get: e => link("#/p/" + encodeURIComponent(e.pipeline), e.pipeline) }, { title: "node", get: e => e.node },
      { title: "team", get: e => e.team }, { title: "runs", num: true, get: e => e.runs }, { title: "last", get: e => fmtTime(e.last) },
    ], es));
  }
  await load();
}

async function usagePage() {
  main.append(h("h1", {}, "Usage"));
  const by = h("select", { id: "usage-by", onchange: () => load() }, ...["team", "project", "cost_center"].map(b => h("option", { value: b }, "by " + b)));
  const days = h("select", { id: "usage-days", onchange: () => load() },
    ...[1, 7, 30, 90, 365].map(d => h("option", { value: d, selected: d === 30 }, "last " + d + " days")));
  const body = h("div", {});
  main.append(h("div", { className: "filters" }, by, days), body);
  async function load() {
    const u = await api("/api/usage?" + new URLSearchParams({ by: by.value, days: days.value }));
    clear(body);
    if (!u.rows.length) { body.append(h("p", { className: "muted" }, "No finished attempts in this period.")); return; }
    const max = Math.max(...u.rows.map(r => r.node_seconds), 0.001);
    body.append(table([
      { title: by.value, get: r => r.tenant || "(none)" }, { title: "attempts", num: true, get: r => fmtNum(r.attempts) },
      { title: "node-seconds", num: true, get: r => r.node_seconds.toFixed(1) },
      { title: "", get: r => h("div", { className: "bar", style: "width:" + Math.max(1, Math.round(200 * r.node_seconds / max)) + "px" }) },
      { title: "rows in", num: true, get: r => fmtNum(r.rows_in) }, { title: "rows out", num: true, get: r => fmtNum(r.rows_out) },
      { title: "bytes in", num: true, get: r => fmtBytes(r.bytes_in) }, { title: "bytes out", num: true, get: r => fmtBytes(r.bytes_out) },
    ], u.rows));
  }
  await load();
}

boot().catch(e => { clear(main); main.append(h("p", { className: "err" }, String(e.message || e))); });
