// Small helpers of the UI's pages: element building that only ever makes text nodes of data,
// the API client (with the CSRF token on writes), formatting, and the graph drawing over dagre.
import dagre from "./vendor/dagre.esm.js";

const SVG = "http://www.w3.org/2000/svg";

// h builds an element. Props are set as properties (textContent, value, className, on*), except
// `style` (CSSOM, allowed by the Content-Security-Policy where a style attribute is not) and
// data-* (dataset). Children are elements or strings; strings become text nodes, never markup.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null) continue;
    if (k === "style") {
      for (const decl of String(v).split(";")) {
        const i = decl.indexOf(":");
        if (i > 0) el.style.setProperty(decl.slice(0, i).trim(), decl.slice(i + 1).trim());
      }
    } else if (k.startsWith("data-")) {
      el.dataset[k.slice(5).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = String(v);
    } else {
      el[k] = v;
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.append(c);
    else el.append(document.createTextNode(String(c)));
  }
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

let csrf = "";

// api GETs (or POSTs body as JSON) and returns the decoded answer; an HTTP error throws with the
// server's message, its status and answer in the error's status and data.
export async function api(path, body) {
  const opts = { headers: { "Accept": "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-CSRF-Token"] = csrf;
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (path === "/api/me" && data) csrf = data.csrf;
  if (!res.ok && !(data && data.problems)) {
    const err = new Error((data && data.error) || res.status + " " + res.statusText);
    err.status = res.status;
    err.data = data; // the server's whole answer (an unknown run's suggestions)
    throw err;
  }
  return data;
}

export function status(s) { return h("span", { className: "status " + String(s || "") }, s || "—"); }

export function fmtTime(t) {
  if (!t) return "";
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function fmtDur(s) {
  if (!(s >= 0)) return "";
  if (s < 1) return Math.round(s * 1000) + " ms";
  if (s < 120) return s.toFixed(1) + " s";
  if (s < 7200) return (s / 60).toFixed(1) + " min";
  return (s / 3600).toFixed(1) + " h";
}

export function fmtNum(n) { return n == null ? "" : Number(n).toLocaleString("en-US"); }

export function fmtBytes(b) {
  if (b == null) return "";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0, v = Number(b);
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : v) + " " + u[i];
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function clip(s, n) { s = String(s || ""); return s.length > n ? s.slice(0, n - 1) + "…" : s; }

// drawGraph lays out nodes ({id, cls, title, sub, sub2}) and edges ({from, to, label}) left to
// right with dagre and draws them as SVG into box; onClick(id) is called when a node is clicked.
export function drawGraph(box, nodes, edges, onClick) {
  clear(box);
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 70, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: 210, height: n.sub2 ? 58 : 44 });
  edges.forEach((e, i) => {
    if (g.hasNode(e.from) && g.hasNode(e.to)) {
      g.setEdge(e.from, e.to, e.label ? { label: e.label, width: Math.min(200, 6 * e.label.length), height: 14 } : {}, "e" + i);
    }
  });
  dagre.layout(g);
  const gg = g.graph();
  const root = svg("svg", { width: Math.max(gg.width || 0, 200), height: Math.max(gg.height || 0, 80), role: "img" });
  root.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
    svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8892a0" }))));
  for (const e of g.edges()) {
    const ed = g.edge(e);
    const pts = ed.points || [];
    if (!pts.length) continue;
    const d = "M" + pts.map(p => p.x.toFixed(1) + "," + p.y.toFixed(1)).join(" L");
    root.append(svg("path", { class: "edge", d, "data-from": e.v, "data-to": e.w }));
    if (ed.label) root.append(svg("text", { class: "elabel", x: ed.x, y: ed.y, "text-anchor": "middle" }, clip(ed.label, 34)));
  }
  for (const n of nodes) {
    const l = g.node(n.id);
    if (!l) continue;
    const x = l.x - l.width / 2, y = l.y - l.height / 2;
    const grp = svg("g", { class: "node " + (n.cls || ""), "data-node": n.id, transform: `translate(${x},${y})`, tabindex: 0 },
      svg("rect", { width: l.width, height: l.height, rx: 6 }),
      svg("text", { x: 10, y: 18 }, clip(n.title, 30)),
      svg("text", { x: 10, y: 34, class: "sub" }, clip(n.sub, 34)));
    if (n.sub2) grp.append(svg("text", { x: 10, y: 50, class: "sub" }, clip(n.sub2, 34)));
    grp.append(svg("title", {}, [n.title, n.sub, n.sub2].filter(Boolean).join("\n")));
    if (onClick) {
      grp.addEventListener("click", () => {
        for (const s of box.querySelectorAll("g.node.selected")) s.classList.remove("selected");
        grp.classList.add("selected");
        onClick(n.id);
      });
    }
    root.append(grp);
  }
  box.append(root);
}
