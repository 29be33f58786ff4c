// Authoring: build or edit a pipeline in the browser. Nodes are added from the plugin specs
// (/api/plugins), each with a form generated from its typed fields, checked as it is typed (here:
// required, numbers, JSON, secret references; on the server, debounced: the whole draft through
// the same checks as `aiflow-runner validate`). Edges are a node's inputs. The server writes the
// YAML; it is shown, downloadable, and saved under --specs DIR.
import { h, api, clear, drawGraph } from "./lib.js";

const ROLES = { source: "source", transform: "engine", sink: "sink" };

export async function author(main, file, session) {
  const plugins = await api("/api/plugins");
  const specs = await api("/api/specs");
  const st = { pipeline: { id: "", schedule: "@daily", owner: session.me.user.name, team: "", env: "dev", project: "", cost_center: "" }, nodes: [], extra: {} };
  if (!session.me.user.admin && session.me.user.teams.length) st.pipeline.team = session.me.user.teams[0];
  let fileName = "";
  if (file) {
    const got = await api("/api/specs/" + encodeURIComponent(file));
    load(st, got.draft, plugins);
    fileName = file;
  }

  main.append(h("h1", {}, file ? "Edit " + file : "New pipeline"));
  const opener = h("select", { id: "open-spec", onchange: () => { if (opener.value) location.hash = "#/author/" + encodeURIComponent(opener.value); } },
    h("option", { value: "" }, specs.length ? "open a spec…" : "no specs in --specs DIR"),
    ...specs.filter(s => s.pipeline).map(s => h("option", { value: s.name, selected: s.name === file }, s.name + " (" + s.pipeline + ")")));
  main.append(h("div", { className: "filters" }, opener, session.me.specs ? "" : h("span", { className: "muted" }, "read-only: start the UI with --specs DIR to save")));

  const left = h("div", {}), right = h("div", {});
  main.append(h("div", { className: "author" }, left, right));

  // Pipeline fields.
  const pform = h("div", { className: "panel" }, h("h2", {}, "Pipeline"));
  for (const [k, label] of [["id", "id"], ["schedule", "schedule"], ["owner", "owner"], ["team", "team"], ["env", "env"], ["project", "project"], ["cost_center", "cost center"]]) {
    const inp = h("input", { type: "text", id: "p-" + k, value: st.pipeline[k] || "", oninput: () => { st.pipeline[k] = inp.value; changed(); } });
    pform.append(h("div", { className: "field" }, h("label", { htmlFor: "p-" + k }, label), inp));
  }
  left.append(pform);

  // Adding nodes.
  const role = h("select", { id: "add-role", onchange: () => fillKinds() }, ...Object.keys(ROLES).map(r => h("option", { value: r }, r)));
  const kind = h("select", { id: "add-kind" });
  function fillKinds() {
    clear(kind);
    for (const p of plugins.filter(p => p.role === ROLES[role.value])) kind.append(h("option", { value: p.kind, title: p.summary }, p.kind));
  }
  fillKinds();
  const addBtn = h("button", { id: "add-node", type: "button", onclick: () => {
    const n = newNode(role.value, kind.value, st);
    st.nodes.push(n);
    renderNodes();
    changed();
  } }, "Add node");
  left.append(h("div", { className: "panel" }, h("h2", {}, "Add a node"), h("div", { className: "row" }, role, kind, addBtn)));
  const nodesBox = h("div", { id: "nodes" });
  left.append(nodesBox);

  // Preview, problems, save.
  const graph = h("div", { className: "graph", id: "author-graph" });
  const problems = h("ul", { className: "problems", id: "problems" });
  const hash = h("div", { id: "ir-hash", className: "cmd" });
  const yaml = h("pre", { id: "yaml" });
  const saveName = h("input", { type: "text", id: "save-name", value: fileName, placeholder: "file name, e.g. my_pipeline.yaml" });
  const saveResult = h("div", { id: "save-result" });
  const saveBtn = h("button", { id: "save", type: "button", disabled: !session.me.specs, onclick: () => save() }, "Save");
  const dlBtn = h("button", { id: "download", type: "button", className: "secondary", onclick: () => download() }, "Download YAML");
  right.append(h("div", { className: "panel" }, h("h2", {}, "Graph"), graph,
    h("h2", {}, "Validation"), hash, problems,
    h("div", { className: "row" }, saveName, saveBtn, dlBtn), saveResult,
    h("h2", {}, "YAML"), yaml));

  let last = null, timer = null, seq = 0;
  function changed() {
    drawPreview();
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  }
  function drawPreview() {
    const ids = new Set(st.nodes.map(n => n.id));
    drawGraph(graph, st.nodes.map(n => ({ id: n.id || "?", cls: n.role, title: n.id || "(no id)", sub: n.role + " · " + n.kind })),
      st.nodes.flatMap(n => n.inputs.filter(i => ids.has(i)).map(i => ({ from: i, to: n.id }))), null);
  }
  async function check() {
    const my = ++seq;
    const d = draft(st, plugins);
    if (!d) { showProblems([{ msg: "fix the fields marked in red" }]); return null; }
    const c = await api("/api/check", d);
    if (my !== seq) return null;
    last = c;
    yaml.textContent = c.yaml;
    hash.textContent = c.ir_hash ? "valid · ir_hash " + c.ir_hash : "";
    hash.className = "cmd " + (c.ir_hash && !c.problems.length ? "ok" : "");
    showProblems(c.problems);
    markFields(c.problems);
    return c;
  }
  function showProblems(ps) {
    clear(problems);
    for (const p of ps) problems.append(h("li", {}, (p.node ? p.node + ": " : "") + p.msg));
  }
  function markFields(ps) {
    for (const el of nodesBox.querySelectorAll(".server-err")) el.remove();
    for (const p of ps) {
      if (!p.node) continue;
      const card = [...nodesBox.querySelectorAll(".node-card")].find(c => c.dataset.node === p.node);
      if (!card) continue;
      const f = p.field && [...card.querySelectorAll(".field")].find(x => x.dataset.field === p.field);
      (f || card).append(h("div", { className: "err server-err" }, p.msg));
    }
  }
  async function save() {
    clear(saveResult);
    const d = draft(st, plugins);
    if (!d) { saveResult.append(h("span", { className: "err" }, "fix the fields marked in red")); return; }
    try {
      const r = await api("/api/specs/" + encodeURIComponent(saveName.value.trim()), d);
      if (r.problems) { showProblems(r.problems); saveResult.append(h("span", { className: "err" }, "not saved: the pipeline has problems")); return; }
      saveResult.append(h("span", { className: "ok" }, "saved " + r.path + " · ir_hash " + r.ir_hash));
      saveResult.dataset.irHash = r.ir_hash;
    } catch (e) {
      saveResult.append(h("span", { className: "err" }, String(e.message || e)));
    }
  }
  async function download() {
    const c = await check();
    if (!c) return;
    const a = h("a", { href: URL.createObjectURL(new Blob([c.yaml], { type: "application/yaml" })), download: (saveName.value.trim() || (st.pipeline.id || "pipeline") + ".yaml") });
    document.body.append(a); a.click(); a.remove();
  }

  function renderNodes() {
    clear(nodesBox);
    st.nodes.forEach((n) => nodesBox.append(nodeCard(n)));
  }
  function nodeCard(n) {
    const spec = plugins.find(p => p.role === ROLES[n.role] && p.kind === n.kind);
    const card = h("div", { className: "node-card " + n.role, "data-node": n.id });
    const idIn = h("input", { type: "text", className: "n-id", value: n.id, oninput: () => {
      const old = n.id; n.id = idIn.value; card.dataset.node = n.id;
      for (const m of st.nodes) m.inputs = m.inputs.map(i => i === old ? n.id : i);
      changed();
    }, onchange: () => renderNodes() });
    const del = h("button", { type: "button", className: "danger", onclick: () => {
      st.nodes = st.nodes.filter(m => m !== n);
      for (const m of st.nodes) m.inputs = m.inputs.filter(i => i !== n.id);
      renderNodes(); changed();
    } }, "Remove");
    card.append(h("div", { className: "row" }, h("b", {}, n.role + " " + n.kind), idIn, del));
    if (spec && spec.summary) card.append(h("div", { className: "muted" }, spec.summary));
    if (n.role !== "source") {
      const ins = h("div", { className: "row" }, h("span", { className: "muted" }, "inputs:"));
      for (const m of st.nodes) {
        if (m === n || m.role === "sink") continue;
        const cb = h("input", { type: "checkbox", checked: n.inputs.includes(m.id), "data-input": m.id, onchange: () => {
          n.inputs = cb.checked ? [...n.inputs, m.id] : n.inputs.filter(i => i !== m.id);
          changed();
        } });
        ins.append(h("label", {}, cb, " " + m.id));
      }
      card.append(ins);
    }
    if (n.role !== "transform" && spec && spec.engines && spec.engines.length) {
      const eng = h("select", { className: "n-engine", onchange: () => { n.engine = eng.value; changed(); } },
        h("option", { value: "" }, "engine: default"), ...spec.engines.map(e => h("option", { value: e, selected: e === n.engine }, "engine: " + e)));
      card.append(eng);
    }
    for (const f of (spec ? spec.params : [])) card.append(fieldRow(n, f));
    const extra = h("textarea", { rows: 2, className: "n-extra", value: n.extra, placeholder: spec && spec.open ? "other params, JSON object" : "other params (JSON object), if any", oninput: () => {
      n.extra = extra.value; extra.classList.toggle("invalid", parseObj(n.extra) === undefined); changed();
    } });
    card.append(h("div", { className: "field", "data-field": "" }, h("label", {}, "other params"), extra));
    const res = h("textarea", { rows: 1, className: "n-resources", value: n.resources, placeholder: "resources, JSON: {\"cpu\": \"500m\", \"memory\": \"1Gi\"}", oninput: () => {
      n.resources = res.value; res.classList.toggle("invalid", parseObj(n.resources) === undefined); changed();
    } });
    card.append(h("div", { className: "field" }, h("label", {}, "resources"), res));
    return card;
  }
  function fieldRow(n, f) {
    const row = h("div", { className: "field", "data-field": f.name, title: f.doc });
    const err = h("div", { className: "err" });
    const raw = n.fields[f.name] ?? "";
    let inp;
    if (f.type === "boolean") {
      inp = h("input", { type: "checkbox", checked: raw === true || raw === "true" });
      inp.onchange = () => { n.fields[f.name] = inp.checked ? "true" : ""; changed(); };
    } else if (f.type.startsWith("list") || f.type.startsWith("mapping")) {
      inp = h("textarea", { rows: f.type.includes("mapping of any") || f.type.includes("list of mapping") ? 5 : 1, value: raw, placeholder: f.type + " (JSON)" });
    } else {
      inp = h("input", { type: "text", value: raw, placeholder: f.type === "secret" ? "${ENV} or secret-name/key" : (f.default ? "default " + f.default : f.type) });
    }
    if (f.type !== "boolean") {
      inp.oninput = () => {
        n.fields[f.name] = inp.value;
        const e = fieldError(f, inp.value);
        err.textContent = e;
        inp.classList.toggle("invalid", !!e);
        changed();
      };
      const e = fieldError(f, raw);
      err.textContent = e;
      inp.classList.toggle("invalid", !!e);
    }
    inp.dataset.field = f.name;
    row.append(h("label", {}, f.name + (f.required ? " *" : "")), h("div", {}, inp, err, h("div", { className: "muted" }, f.doc)));
    return row;
  }

  if (st.nodes.length) renderNodes();
  changed();
}

function newNode(role, kind, st) {
  let i = st.nodes.length + 1, id;
  do { id = role + "_" + i++; } while (st.nodes.some(n => n.id === id));
  const inputs = [];
  if (role !== "source") {
    const prev = [...st.nodes].reverse().find(n => n.role !== "sink");
    if (prev) inputs.push(prev.id);
  }
  return { id, role, kind, engine: "", inputs, fields: {}, extra: "", resources: "" };
}

// load turns a draft from the server into the form's state: typed fields as text, the rest in
// "other params".
function load(st, d, plugins) {
  const p = d.pipeline;
  st.pipeline = { id: p.id, schedule: p.schedule ?? "", owner: p.owner, team: p.team, env: p.env, project: p.project, cost_center: p.cost_center };
  st.extra = { sla_minutes: p.sla_minutes, tags: p.tags, description: p.description, params: p.params, extra: p.extra };
  for (const n of d.nodes || []) {
    const spec = plugins.find(x => x.role === ROLES[n.role] && x.kind === n.kind);
    const names = new Set((spec ? spec.params : []).map(f => f.name));
    const fields = {}, rest = {};
    for (const [k, v] of Object.entries(n.with || {})) {
      if (!names.has(k)) { rest[k] = v; continue; }
      const f = spec.params.find(x => x.name === k);
      if (f.type === "secret" && v && typeof v === "object" && v.secret) fields[k] = v.secret;
      else fields[k] = typeof v === "string" ? v : JSON.stringify(v);
    }
    st.nodes.push({ id: n.id, role: n.role, kind: n.kind, engine: n.engine || "", inputs: n.inputs || [], fields,
      extra: Object.keys(rest).length ? JSON.stringify(rest) : "", resources: n.resources ? JSON.stringify(n.resources) : "",
      output_schema: n.output_schema });
  }
}

function parseObj(s) {
  if (!s || !s.trim()) return null;
  try { const v = JSON.parse(s); return v && typeof v === "object" && !Array.isArray(v) ? v : undefined; } catch (e) { return undefined; }
}

const SECRET_REF = /^(\$\{[A-Za-z_][A-Za-z0-9_]*\}|[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[-._a-zA-Z0-9]+)$/;

// fieldError is the check as you type of one field ("" when fine).
export function fieldError(f, raw) {
  const v = String(raw ?? "").trim();
  if (!v) return f.required ? "required" : "";
  if (f.type === "integer" && !/^-?\d+$/.test(v)) return "a whole number";
  if (f.type === "number" && isNaN(Number(v))) return "a number";
  if (f.type === "secret" && !SECRET_REF.test(v)) return "a reference, not a value: ${ENV} or secret-name/key";
  if (f.type.startsWith("list") || f.type.startsWith("mapping")) {
    if (f.type === "list of string" && !v.startsWith("[")) return "";
    try {
      const x = JSON.parse(v);
      if (f.type.startsWith("list") && !Array.isArray(x)) return "a JSON list";
      if (f.type.startsWith("mapping") && (typeof x !== "object" || Array.isArray(x) || x === null)) return "a JSON object";
    } catch (e) { return "JSON: " + e.message; }
  }
  return "";
}

function fieldValue(f, raw) {
  const v = String(raw ?? "").trim();
  if (f.type === "integer" || f.type === "number") return Number(v);
  if (f.type === "boolean") return v === "true";
  if (f.type === "secret") return v.startsWith("${") ? v : { secret: v };
  if (f.type === "list of string" && !v.startsWith("[")) return v.split(",").map(s => s.trim()).filter(Boolean);
  if (f.type.startsWith("list") || f.type.startsWith("mapping")) return JSON.parse(v);
  return raw;
}

// draft is the state as the server's Draft, or null while a field does not parse.
function draft(st, plugins) {
  const p = st.pipeline, x = st.extra || {};
  const d = { pipeline: { id: p.id.trim(), schedule: p.schedule.trim() ? p.schedule.trim() : null, owner: p.owner, team: p.team, env: p.env,
    project: p.project, cost_center: p.cost_center, sla_minutes: x.sla_minutes || 0, tags: x.tags || null,
    description: x.description || "", params: x.params || null, extra: x.extra || null }, nodes: [] };
  for (const n of st.nodes) {
    const spec = plugins.find(q => q.role === ROLES[n.role] && q.kind === n.kind);
    const w = {};
    for (const f of (spec ? spec.params : [])) {
      const raw = n.fields[f.name];
      if (raw === undefined || String(raw).trim() === "") continue;
      if (fieldError(f, raw)) return null;
      w[f.name] = fieldValue(f, raw);
    }
    const extra = parseObj(n.extra), res = parseObj(n.resources);
    if (extra === undefined || res === undefined) return null;
    Object.assign(w, extra || {});
    d.nodes.push({ id: n.id, role: n.role, kind: n.kind, engine: n.engine, inputs: n.inputs,
      with: Object.keys(w).length ? w : null, resources: res, output_schema: n.output_schema || null });
  }
  return d;
}
