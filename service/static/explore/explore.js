/* srf explorer: every problem field at hand, the theory redrawn as it changes, simulations overlaid.
 *
 * Plain JavaScript, no build step and no external host: it calls the service's own API
 * (POST /theory/curve, /theory/function, /compare as a job, GET/DELETE /jobs/{id}) and draws SVG.
 * The page's state is its query string, so a link reproduces the view.
 */
"use strict";
(() => {
  const CONFIG = JSON.parse(document.getElementById("srf-config").textContent);
  const BASE = CONFIG.base;
  const FIELDS = CONFIG.fields;
  const PROBLEM = ["learning_rate", "alpha0", "ridge", "width", "noise"];
  // The grid axes of a curve request, in the server's C order (docs/api.md): the last varies fastest.
  const AXES = ["width", "noise", "alpha0", "learning_rate", "ridge", "alpha"];
  const AXIS_LABEL = {
    alpha: "α = n/d", learning_rate: "η̃", alpha0: "α0", ridge: "λ", noise: "Δ", width: "p/d",
  };
  // Heatmap ranges when none is given (alpha: the curve's own range).
  const HEAT_RANGE = {
    learning_rate: [0.25, 8], alpha0: [0.5, 50], ridge: [0.001, 10], noise: [0, 1], width: [0.25, 4],
  };
  const DEBOUNCE_MS = 40;
  const SLIDER_STEPS = 1000;

  const DEFAULTS = {
    student: "tanh", teacher: "sin", learning_rate: 3, alpha0: 20, ridge: 0.1, width: 1, noise: 0,
    amin: 0.1, amax: 4, n: 50, alog: false,
    mapping: CONFIG.choices.mapping.default, bulk: CONFIG.choices.bulk.default,
    row_norm: CONFIG.choices.row_norm.default,
    view: "curve", train: false, ylog: false,
    hx: "alpha", hy: "learning_rate", hxr: "", hyr: "", hn: 16, fa: 1,
    dim: 400, seeds: 3, simn: 6, model: "network", sim: false,
  };
  const state = { ...DEFAULTS };
  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ state <-> query string

  function encodeActivation(value) {
    return typeof value === "string" ? value : "hermite:" + value.hermite.join(",");
  }
  function decodeActivation(text) {
    if (text.startsWith("hermite:")) {
      const coefficients = text.slice(8).split(",").map(Number);
      return { hermite: coefficients };
    }
    return text;
  }
  function readURL() {
    const params = new URLSearchParams(location.search);
    for (const [name, fallback] of Object.entries(DEFAULTS)) {
      if (!params.has(name)) continue;
      const text = params.get(name);
      if (name === "student" || name === "teacher") state[name] = decodeActivation(text);
      else if (name === "ridge" && text === "optimal") state.ridge = "optimal";
      else if (typeof fallback === "boolean") state[name] = text === "1" || text === "true";
      else if (typeof fallback === "number") state[name] = Number(text);
      else state[name] = text;
    }
  }
  function writeURL() {
    const params = new URLSearchParams();
    for (const [name, fallback] of Object.entries(DEFAULTS)) {
      let value = state[name];
      if (name === "student" || name === "teacher") value = encodeActivation(value);
      if (value === fallback) continue;
      params.set(name, typeof value === "boolean" ? (value ? "1" : "0") : String(value));
    }
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
  }

  // ------------------------------------------------------------------ numbers

  const round = (x, digits = 6) => Number(Number(x).toPrecision(digits));
  function fmt(x) {
    if (x === null || x === undefined || !Number.isFinite(x)) return "—";
    const a = Math.abs(x);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(2).replace("e+", "e");
    return String(round(x, 4));
  }
  function spaced(low, high, count, log) {
    if (count <= 1) return [round(log ? Math.sqrt(low * high) : (low + high) / 2)];
    const values = [];
    for (let i = 0; i < count; i++) {
      const t = i / (count - 1);
      values.push(round(log ? low * Math.pow(high / low, t) : low + t * (high - low)));
    }
    return values;
  }
  const alphaLog = () => state.alog && state.amin > 0;
  const alphas = () => spaced(state.amin, state.amax, Math.round(state.n), alphaLog());
  function heatAxis(name, text) {
    let range = name === "alpha" ? [state.amin, state.amax] : HEAT_RANGE[name];
    if (text.trim()) {
      const parts = text.split(/[,;\s]+/).filter(Boolean).map(Number);
      if (parts.length !== 2 || !parts.every(Number.isFinite)) throw new Error("range: give “low, high”");
      range = parts;
    }
    const log = range[0] > 0 && range[1] > 0 && (name === "alpha" ? state.alog : name !== "noise");
    return { name, values: spaced(range[0], range[1], Math.round(state.hn), log), log };
  }

  // ------------------------------------------------------------------ request bodies

  function problem() {
    const body = { student: state.student, teacher: state.teacher };
    for (const name of PROBLEM) body[name] = state[name];
    if (state.width === 1) delete body.width;
    if (state.noise === 0) delete body.noise;
    return body;
  }
  function choices(body) {
    for (const name of ["mapping", "bulk", "row_norm"]) {
      if (state[name] !== CONFIG.choices[name].default) body[name] = state[name];
    }
    return body;
  }
  function curveRequest() {
    return { path: "/theory/curve", body: choices({ ...problem(), alphas: alphas() }) };
  }
  function heatmapRequest() {
    if (state.hx === state.hy) throw new Error("heatmap: choose two different axes");
    const x = heatAxis(state.hx, state.hxr);
    const y = heatAxis(state.hy, state.hyr);
    const body = choices({ ...problem(), alphas: [state.fa] });
    for (const axis of [x, y]) {
      if (axis.name === "alpha") body.alphas = axis.values;
      else body[axis.name] = axis.values;
    }
    return { path: "/theory/curve", body, x, y };
  }
  function functionRequest() {
    const body = choices({ ...problem(), alphas: [state.fa] });
    return { path: "/theory/function", body };
  }
  function compareRequest() {
    const simAlphas = spaced(state.amin, state.amax, Math.max(1, Math.round(state.simn)), alphaLog());
    const body = choices({ ...problem(), alphas: simAlphas });
    return {
      path: "/compare",
      body: { ...body, model: state.model, dimension: Math.round(state.dim), seeds: Math.round(state.seeds) },
    };
  }
  function viewRequest() {
    if (state.view === "heatmap") return heatmapRequest();
    if (state.view === "function") return functionRequest();
    return curveRequest();
  }
  // The problem a simulation belongs to: everything but the simulation's own fields and α's.
  function problemTag() {
    const { alphas: _a, ...rest } = compareRequest().body;
    delete rest.dimension; delete rest.seeds; delete rest.model;
    return JSON.stringify(rest) + `|${state.amin}|${state.amax}|${state.alog}`;
  }

  // ------------------------------------------------------------------ HTTP

  class ApiError extends Error {
    constructor(status, data, retryAfter) {
      super(`HTTP ${status}`);
      this.status = status;
      this.data = data;
      this.retryAfter = retryAfter;
    }
  }
  function headers(extra = {}) {
    const h = { "Content-Type": "application/json", ...extra };
    const key = sessionStorage.getItem("srf-api-key");
    if (CONFIG.auth && key) h.Authorization = "Bearer " + key;
    return h;
  }
  const answers = new Map(); // request → body: a control moved back and forth redraws at once
  async function post(path, body, { signal, cache = true } = {}) {
    const key = path + JSON.stringify(body);
    if (cache && answers.has(key)) return answers.get(key);
    const response = await fetch(BASE + path, {
      method: "POST", headers: headers(), body: JSON.stringify(body), signal,
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data, response.headers.get("Retry-After"));
    if (cache) {
      answers.set(key, data);
      if (answers.size > 300) answers.delete(answers.keys().next().value);
    }
    return data;
  }

  // Field of an error → the element that shows it.
  const ERROR_SLOT = {
    student: "student", teacher: "teacher", learning_rate: "learning_rate", alpha0: "alpha0",
    ridge: "ridge", width: "width", noise: "noise", alphas: "alphas", mapping: "mapping", bulk: "bulk",
    row_norm: "row_norm", kappa: "fa", dimension: "dimension", extrapolate_dimensions: "dimension",
    seeds: "seeds", model: "simulation", test_samples: "simulation",
  };
  function errorsOf(error) {
    const out = [];
    const data = error.data;
    const slot = (field) => ERROR_SLOT[String(field || "").split(".")[0]] || "general";
    if (error instanceof ApiError && data && Array.isArray(data.detail)) {
      for (const item of data.detail) {
        const field = item.field || (item.loc || []).slice(1).join(".");
        out.push([slot(field), field ? `${field}: ${item.msg}` : item.msg]);
      }
    } else if (error instanceof ApiError && data && data.detail) {
      out.push([slot(data.field), String(data.detail)]);
    } else if (error instanceof ApiError) {
      out.push(["general", `the server answered ${error.status}`]);
    } else {
      out.push(["general", String(error.message || error)]);
    }
    return out;
  }
  const shown = { theory: [], sim: [] };
  function showErrors(scope, errors, fallback = "general") {
    for (const id of shown[scope]) $(id).textContent = "";
    shown[scope] = [];
    for (const [slot, message] of errors) {
      const id = $("err-" + slot) ? "err-" + slot : "err-" + fallback;
      const element = $(id);
      element.textContent = element.textContent ? element.textContent + " · " + message : message;
      shown[scope].push(id);
    }
  }

  // ------------------------------------------------------------------ SVG drawing

  const SVG_NS = document.getElementById("plot").namespaceURI; // the inline <svg>'s: no URL in this file
  const W = 760, H = 440, M = { l: 66, r: 18, t: 30, b: 48 };
  function el(name, attrs = {}, parent = null, text = null) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== null) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function clear(svg, title) {
    svg.replaceChildren();
    el("title", { id: "plot-title" }, svg, title);
  }
  function niceStep(span, count) {
    const raw = span / Math.max(count, 1);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const unit = raw / power;
    return (unit >= 5 ? 10 : unit >= 2 ? 5 : unit >= 1 ? 2 : 1) * power;
  }
  function ticks(low, high, log) {
    if (log) {
      const out = [];
      const a = Math.floor(Math.log10(low)), b = Math.ceil(Math.log10(high));
      const subs = b - a <= 2 ? [1, 2, 5] : [1];
      for (let e = a; e <= b; e++) for (const s of subs) {
        const v = s * Math.pow(10, e);
        if (v >= low * 0.999 && v <= high * 1.001) out.push(v);
      }
      return out;
    }
    const step = niceStep(high - low, 6);
    const out = [];
    for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) out.push(round(v, 10));
    return out;
  }
  function scale(low, high, a, b, log) {
    if (log) {
      const l0 = Math.log10(low), l1 = Math.log10(high);
      return (v) => a + (Math.log10(v) - l0) / (l1 - l0 || 1) * (b - a);
    }
    return (v) => a + (v - low) / (high - low || 1) * (b - a);
  }
  function extent(values, log) {
    let low = Infinity, high = -Infinity;
    for (const v of values) {
      if (v === null || !Number.isFinite(v) || (log && v <= 0)) continue;
      low = Math.min(low, v); high = Math.max(high, v);
    }
    if (!Number.isFinite(low)) return [log ? 0.1 : 0, 1];
    if (low === high) return log ? [low / 2, high * 2] : [low - 0.5 * (Math.abs(low) || 1), high + 0.5 * (Math.abs(high) || 1)];
    if (!log) {
      const pad = (high - low) * 0.04;
      return [low - pad, high + pad];
    }
    return [low / 1.08, high * 1.08];
  }
  function axes(svg, x, y, xlabel, ylabel) {
    const grid = el("g", { class: "grid" }, svg);
    const axis = el("g", { class: "axis" }, svg);
    el("line", { x1: M.l, y1: H - M.b, x2: W - M.r, y2: H - M.b }, axis);
    el("line", { x1: M.l, y1: M.t, x2: M.l, y2: H - M.b }, axis);
    for (const v of ticks(x.low, x.high, x.log)) {
      const px = x.s(v);
      el("line", { x1: px, y1: M.t, x2: px, y2: H - M.b }, grid);
      el("line", { x1: px, y1: H - M.b, x2: px, y2: H - M.b + 5 }, axis);
      el("text", { x: px, y: H - M.b + 18, "text-anchor": "middle" }, axis, fmt(v));
    }
    for (const v of ticks(y.low, y.high, y.log)) {
      const py = y.s(v);
      el("line", { x1: M.l, y1: py, x2: W - M.r, y2: py }, grid);
      el("line", { x1: M.l - 5, y1: py, x2: M.l, y2: py }, axis);
      el("text", { x: M.l - 8, y: py + 4, "text-anchor": "end" }, axis, fmt(v));
    }
    el("text", { x: (M.l + W - M.r) / 2, y: H - 10, "text-anchor": "middle" }, axis, xlabel);
    el("text", { x: 14, y: (M.t + H - M.b) / 2, "text-anchor": "middle",
      transform: `rotate(-90 14 ${(M.t + H - M.b) / 2})` }, axis, ylabel);
  }
  /** Lines (gaps at null values) and markers with ± error bars; every drawn series carries its numbers. */
  function lineChart(svg, { title, series, markers = [], xlabel, ylabel, xlog = false, ylog = false }) {
    clear(svg, title);
    const xs = [], ys = [];
    for (const s of series) { xs.push(...s.x); ys.push(...s.y); }
    for (const m of markers) {
      xs.push(...m.x);
      m.y.forEach((v, i) => ys.push(v - (m.e[i] || 0), v + (m.e[i] || 0)));
    }
    const [x0, x1] = extent(xs, xlog), [y0, y1] = extent(ys, ylog);
    const x = { low: x0, high: x1, log: xlog, s: scale(x0, x1, M.l, W - M.r, xlog) };
    const y = { low: y0, high: y1, log: ylog, s: scale(y0, y1, H - M.b, M.t, ylog) };
    axes(svg, x, y, xlabel, ylabel);
    const ok = (v) => v !== null && Number.isFinite(v) && !(ylog && v <= 0);
    const legend = el("g", { class: "legend" }, svg);
    let row = 0;
    const entry = (style, label, marker) => {
      const ly = M.t + 4 + 16 * row++;
      const lx = W - M.r - 210;
      if (marker) el("circle", { cx: lx + 12, cy: ly, r: 3.5, fill: style.color }, legend);
      else el("line", { x1: lx, y1: ly, x2: lx + 24, y2: ly, stroke: style.color, "stroke-width": 2,
        "stroke-dasharray": style.dash || "" }, legend);
      el("text", { x: lx + 30, y: ly + 4 }, legend, label);
    };
    for (const s of series) {
      let d = "", pen = false;
      s.x.forEach((xv, i) => {
        const yv = s.y[i];
        if (!ok(yv) || (s.keep && !s.keep[i])) { pen = false; return; }
        d += `${pen ? "L" : "M"}${x.s(xv).toFixed(2)},${y.s(yv).toFixed(2)}`;
        pen = true;
      });
      el("path", {
        d, fill: "none", stroke: s.color, "stroke-width": s.width || 2, "stroke-dasharray": s.dash || "",
        "data-series": s.id, "data-x": s.x.join(","), "data-y": s.y.map((v) => (v === null ? "" : v)).join(","),
      }, svg);
      entry(s, s.label, false);
    }
    for (const m of markers) {
      const g = el("g", { "data-series": m.id, "data-x": m.x.join(","), "data-y": m.y.join(","),
        "data-sem": m.e.join(",") }, svg);
      m.x.forEach((xv, i) => {
        if (!ok(m.y[i])) return;
        const px = x.s(xv), lo = m.y[i] - m.e[i], hi = m.y[i] + m.e[i];
        el("line", { x1: px, x2: px, y1: y.s(ok(lo) ? lo : m.y[i]), y2: y.s(hi), stroke: m.color, "stroke-width": 1.5 }, g);
        el("circle", { cx: px, cy: y.s(m.y[i]), r: 3.5, fill: m.color, class: "sim-point" }, g);
      });
      entry(m, m.label, true);
    }
  }
  // A perceptually even colour ramp (viridis, 6 stops).
  const RAMP = [[68, 1, 84], [65, 68, 135], [42, 120, 142], [34, 168, 132], [122, 209, 81], [253, 231, 37]];
  function colour(t) {
    t = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
    const i = Math.min(RAMP.length - 2, Math.floor(t)), f = t - i;
    const c = RAMP[i].map((v, k) => Math.round(v + f * (RAMP[i + 1][k] - v)));
    return `rgb(${c.join(",")})`;
  }
  function heatmapChart(svg, { title, x, y, z, optimum, xlabel, ylabel }) {
    clear(svg, title);
    const right = 70;
    const nx = x.values.length, ny = y.values.length;
    const cw = (W - M.l - M.r - right) / nx, ch = (H - M.t - M.b) / ny;
    const flat = z.flat().filter((v) => v !== null && Number.isFinite(v) && v > 0);
    const lo = Math.min(...flat), hi = Math.max(...flat);
    const logz = hi / lo > 10;
    const t = (v) => (logz ? Math.log(v / lo) / Math.log(hi / lo || 2) : (v - lo) / (hi - lo || 1));
    const cells = el("g", { "data-series": "heatmap", "data-x": x.values.join(","), "data-y": y.values.join(",") }, svg);
    for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
      const v = z[j][i];
      el("rect", {
        x: (M.l + i * cw).toFixed(2), y: (H - M.b - (j + 1) * ch).toFixed(2),
        width: (cw + 0.5).toFixed(2), height: (ch + 0.5).toFixed(2),
        fill: v === null || !Number.isFinite(v) ? "#ccc" : colour(t(v)),
      }, cells, null).appendChild(el("title", {}, null, `${xlabel} ${fmt(x.values[i])}, ${ylabel} ${fmt(y.values[j])}: ${fmt(v)}`));
    }
    const axis = el("g", { class: "axis" }, svg);
    const every = Math.max(1, Math.ceil(nx / 6)), everyY = Math.max(1, Math.ceil(ny / 6));
    for (let i = 0; i < nx; i += every) {
      el("text", { x: M.l + (i + 0.5) * cw, y: H - M.b + 18, "text-anchor": "middle" }, axis, fmt(x.values[i]));
    }
    for (let j = 0; j < ny; j += everyY) {
      el("text", { x: M.l - 8, y: H - M.b - (j + 0.5) * ch + 4, "text-anchor": "end" }, axis, fmt(y.values[j]));
    }
    el("text", { x: M.l + (nx * cw) / 2, y: H - 10, "text-anchor": "middle" }, axis, xlabel + (x.log ? " (log)" : ""));
    el("text", { x: 14, y: (M.t + H - M.b) / 2, "text-anchor": "middle",
      transform: `rotate(-90 14 ${(M.t + H - M.b) / 2})` }, axis, ylabel + (y.log ? " (log)" : ""));
    // The optimum: the y minimising the test error at each x.
    let d = "";
    optimum.forEach((j, i) => {
      if (j === null) return;
      d += `${d ? "L" : "M"}${(M.l + (i + 0.5) * cw).toFixed(2)},${(H - M.b - (j + 0.5) * ch).toFixed(2)}`;
    });
    el("path", { d, fill: "none", stroke: "#fff", "stroke-width": 2.5, "stroke-dasharray": "6 3",
      "data-series": "optimum", "data-y": optimum.map((j) => (j === null ? "" : y.values[j])).join(",") }, svg);
    el("text", { x: M.l + 6, y: M.t - 10 }, axis, `dashed: the ${ylabel} of least test error at each ${xlabel}`);
    // Colour bar.
    const bx = W - M.r - right + 18, steps = 40, bh = (H - M.t - M.b) / steps;
    for (let k = 0; k < steps; k++) {
      el("rect", { x: bx, y: H - M.b - (k + 1) * bh, width: 14, height: bh + 0.5, fill: colour(k / (steps - 1)) }, svg);
    }
    const value = (u) => (logz ? lo * Math.pow(hi / lo, u) : lo + u * (hi - lo));
    for (const u of [0, 0.25, 0.5, 0.75, 1]) {
      el("text", { x: bx + 18, y: H - M.b - u * (H - M.t - M.b) + 4 }, axis, fmt(value(u)));
    }
    el("text", { x: bx - 4, y: M.t - 10 }, axis, "test error");
  }

  // ------------------------------------------------------------------ the views

  let overlay = null; // {tag, body, result}: the last simulation, shown while the problem is the same
  const plot = $("plot");

  function drawCurve(data) {
    const points = data.points, base = data.baseline || [];
    const xs = points.map((p) => p.alpha);
    const keep = points.map((p) => p.converged !== false);
    const series = [
      { id: "theory-test", label: "test error (theory)", x: xs, y: points.map((p) => p.test_error), keep, color: "#0b5cad" },
      { id: "baseline-test", label: "test error, no step", x: base.map((p) => p.alpha),
        y: base.map((p) => p.test_error), keep: base.map((p) => p.converged !== false), color: "#6e7781", dash: "6 4" },
    ];
    if (state.train) {
      series.push({ id: "theory-train", label: "training error (theory)", x: xs, y: points.map((p) => p.train_error), keep, color: "#d1631b" });
      series.push({ id: "baseline-train", label: "training error, no step", x: base.map((p) => p.alpha),
        y: base.map((p) => p.train_error), color: "#e8a87c", dash: "6 4" });
    }
    const markers = [];
    if (overlay && overlay.tag === problemTag()) {
      const sim = overlay.result.simulation.points;
      const label = `simulation d = ${overlay.body.dimension}, ${overlay.result.simulation.seeds.length} seeds (± sem)`;
      markers.push({ id: "simulation-test", label, x: sim.map((p) => p.alpha),
        y: sim.map((p) => p.test_error.mean), e: sim.map((p) => p.test_error.sem), color: "#111" });
      if (state.train) {
        markers.push({ id: "simulation-train", label: "simulation, training", x: sim.map((p) => p.alpha),
          y: sim.map((p) => p.train_error.mean), e: sim.map((p) => p.train_error.sem), color: "#8a3b00" });
      }
    }
    lineChart(plot, {
      title: "test error against α", series, markers, xlabel: "α = n/d", ylabel: state.train ? "error" : "test error",
      xlog: alphaLog(), ylog: state.ylog,
    });
    const bad = keep.filter((k) => !k).length;
    return bad ? [`${bad} of ${keep.length} points did not converge: left out of the line`] : [];
  }
  function drawHeatmap(data, request) {
    const { x, y } = request;
    const names = data.grid.axes.map((a) => a.name);
    const shape = data.grid.shape;
    const z = y.values.map(() => x.values.map(() => null));
    const ix = names.indexOf(x.name), iy = names.indexOf(y.name);
    data.points.forEach((p, k) => {
      // C order: index along each axis from the flat index.
      const index = [];
      let rest = k;
      for (let a = shape.length - 1; a >= 0; a--) { index[a] = rest % shape[a]; rest = Math.floor(rest / shape[a]); }
      z[index[iy]][index[ix]] = p.converged === false ? null : p.test_error;
    });
    const optimum = x.values.map((_, i) => {
      let best = null;
      y.values.forEach((_, j) => {
        const v = z[j][i];
        if (v !== null && Number.isFinite(v) && (best === null || v < z[best][i])) best = j;
      });
      return best;
    });
    heatmapChart(plot, { title: `test error over ${x.name} and ${y.name}`, x, y, z, optimum,
      xlabel: AXIS_LABEL[x.name], ylabel: AXIS_LABEL[y.name] });
    const bad = data.points.filter((p) => p.converged === false).length;
    return bad ? [`${bad} of ${data.points.length} points did not converge: grey cells`] : [];
  }
  function drawFunction(data) {
    const p = data.points[0];
    lineChart(plot, {
      title: "the learned function along κ",
      series: [
        { id: "target", label: "target E[y | κ]", x: p.kappa, y: p.target, color: "#111" },
        { id: "after-step", label: "after the step", x: p.kappa, y: p.after_step, color: "#0b5cad" },
        { id: "at-initialisation", label: "at initialisation", x: p.kappa, y: p.at_initialisation, color: "#6e7781", dash: "6 4" },
      ],
      xlabel: "κ = v·x/√d", ylabel: "mean prediction",
    });
    return p.converged === false || p.baseline_converged === false ? ["the fixed point did not converge at this α"] : [];
  }
  function panel(data, notes) {
    const srf = $("srf");
    srf.replaceChildren();
    const add = (name, value) => {
      const dt = document.createElement("dt"); dt.textContent = name;
      const dd = document.createElement("dd"); dd.textContent = value;
      dd.dataset.name = name;
      srf.append(dt, dd);
    };
    if (data.srf) { add("c", fmt(data.srf.c)); add("r", fmt(data.srf.r)); add("γ", fmt(data.srf.gamma)); }
    else add("c, r, γ", "vary between points (see each point)");
    add("mapping", data.mapping); add("bulk", data.bulk); add("row_norm", String(data.row_norm));
    if (state.view === "function") {
      const p = data.points[0];
      add("test error", fmt(p.test_error)); add("no step", fmt(p.baseline_test_error)); add("λ", fmt(p.ridge));
    } else if (state.view === "curve") {
      const best = data.points.reduce((b, p) => (p.test_error !== null && (b === null || p.test_error < b.test_error) ? p : b), null);
      if (best) add("least test error", `${fmt(best.test_error)} at α = ${fmt(best.alpha)}`);
    }
    const list = $("warnings");
    list.replaceChildren();
    const all = [...notes, ...(data.warnings || [])];
    for (const text of all) {
      const li = document.createElement("li"); li.textContent = text; list.appendChild(li);
    }
    if (!all.length) { const li = document.createElement("li"); li.textContent = "none"; list.appendChild(li); }
  }
  function caption(data) {
    const s = state;
    const act = (a) => (typeof a === "string" ? a : `Hermite [${a.hermite.join(", ")}]`);
    const ridge = s.ridge === "optimal" ? "λ optimal" : `λ = ${s.ridge}`;
    $("caption").textContent = `${act(s.student)} student, ${act(s.teacher)} teacher, η̃ = ${s.learning_rate}, ` +
      `α0 = ${s.alpha0}, ${ridge}, p/d = ${s.width}, Δ = ${s.noise}` +
      (s.view !== "curve" ? `, α = ${s.fa}` : "") + ` · key ${data.key.slice(0, 12)}… ${data.cached ? "(cached)" : ""}`;
  }

  // ------------------------------------------------------------------ redraw on change

  let timer = null, controller = null, sequence = 0, changedAt = performance.now();
  const timings = [];
  function changed(delay = DEBOUNCE_MS) {
    changedAt = performance.now();
    writeURL();
    commands();
    clearTimeout(timer);
    timer = setTimeout(refresh, delay);
    scheduleEstimate();
  }
  async function refresh() {
    const mine = ++sequence;
    if (controller) controller.abort(); // a superseded request is cancelled (the server stops it too)
    controller = new AbortController();
    document.body.dataset.status = "loading";
    $("status").textContent = "computing…";
    const started = performance.now();
    let request;
    try {
      request = viewRequest();
      const data = await post(request.path, request.body, { signal: controller.signal });
      if (mine !== sequence) return;
      const received = performance.now();
      const notes = state.view === "heatmap" ? drawHeatmap(data, request)
        : state.view === "function" ? drawFunction(data) : drawCurve(data);
      panel(data, notes);
      caption(data);
      const drawn = performance.now();
      timings.push({ request_ms: received - started, draw_ms: drawn - received, since_change_ms: drawn - changedAt,
        cached: data.cached, view: state.view, points: data.points.length });
      if (timings.length > 50) timings.shift();
      plot.dataset.key = data.key;
      plot.dataset.view = state.view;
      plot.dataset.seq = String(mine);
      showErrors("theory", []);
      $("status").textContent = `${state.view}: ${data.points.length} points in ${(received - started).toFixed(0)} ms` +
        `${data.cached ? " (cached)" : ""}, drawn in ${(drawn - received).toFixed(0)} ms`;
      document.body.dataset.status = "ready";
    } catch (error) {
      if (error.name === "AbortError" || mine !== sequence) return;
      const slot = state.view === "heatmap" ? "heatmap" : "general";
      showErrors("theory", errorsOf(error), slot);
      $("status").textContent = "";
      document.body.dataset.status = "error";
      if (error instanceof ApiError && (error.status === 429 || error.status === 503) && error.retryAfter) {
        $("status").textContent = `server busy: retrying in ${error.retryAfter} s`;
        timer = setTimeout(refresh, 1000 * Number(error.retryAfter));
      }
    }
  }

  // ------------------------------------------------------------------ simulation as a job

  let estimateTimer = null, estimateController = null, job = null;
  function scheduleEstimate() {
    clearTimeout(estimateTimer);
    estimateTimer = setTimeout(estimate, 250);
  }
  // /compare takes λ as a number: with "optimal" there is no simulation to price or run.
  function simulationBlocked() {
    if (state.ridge !== "optimal") return false;
    $("estimate").textContent = "";
    showErrors("sim", [["simulation", "a simulation needs λ as a number: untick “optimal” " +
      "(the λ found at each α is in the curve's points and its CSV)"]]);
    $("run").disabled = true;
    return true;
  }
  async function estimate() {
    if (estimateController) estimateController.abort();
    if (simulationBlocked()) return null;
    estimateController = new AbortController();
    const { body } = compareRequest();
    try {
      const answer = await post("/explore/estimate", body, { signal: estimateController.signal, cache: false });
      showErrors("sim", []);
      const mib = answer.memory_bytes / 2 ** 20;
      $("estimate").textContent = answer.stored
        ? "Stored already: it will be served at once."
        : `The server estimates ≈ ${fmt(answer.seconds)} s and ${fmt(mib)} MiB for this simulation.`;
      $("estimate").dataset.seconds = String(answer.seconds);
      $("run").disabled = job !== null;
      return answer;
    } catch (error) {
      if (error.name === "AbortError") return null;
      $("estimate").textContent = "";
      showErrors("sim", errorsOf(error), "simulation");
      return null;
    }
  }
  async function runSimulation() {
    if (simulationBlocked()) return;
    const request = compareRequest();
    const tag = problemTag();
    showErrors("sim", []);
    $("run").disabled = true;
    $("sim-status").textContent = "submitting…";
    $("progress").value = 0;
    try {
      const response = await fetch(BASE + "/compare", {
        method: "POST", headers: headers({ Prefer: "respond-async" }), body: JSON.stringify(request.body),
      });
      const data = await response.json().catch(() => null);
      if (response.status === 200) return finished(request, tag, data);
      if (response.status !== 202) throw new ApiError(response.status, data, response.headers.get("Retry-After"));
      job = data.id;
      $("cancel").disabled = false;
      poll(request, tag);
    } catch (error) {
      showErrors("sim", errorsOf(error), "simulation");
      $("sim-status").textContent = "";
      $("run").disabled = false;
    }
  }
  async function poll(request, tag) {
    if (job === null) return;
    try {
      const response = await fetch(`${BASE}/jobs/${job}`, { headers: headers() });
      const data = await response.json();
      if (!response.ok) throw new ApiError(response.status, data);
      $("progress").value = data.progress || 0;
      $("sim-status").textContent = `${data.status} ${Math.round(100 * (data.progress || 0))} %`;
      if (data.status === "done") return finished(request, tag, data.result);
      if (data.status === "failed" || data.status === "cancelled") {
        if (data.error) showErrors("sim", [["simulation", data.error]]);
        return endJob(data.status);
      }
      setTimeout(() => poll(request, tag), 250);
    } catch (error) {
      showErrors("sim", errorsOf(error), "simulation");
      endJob("lost");
    }
  }
  function endJob(status) {
    job = null;
    $("cancel").disabled = true;
    $("run").disabled = false;
    $("sim-status").textContent = status;
  }
  function finished(request, tag, result) {
    overlay = { tag, body: request.body, result };
    state.sim = true;
    writeURL();
    const s = result.summary;
    endJob(`done: max |z| ${fmt(s.max_abs_z)}, max relative error ${fmt(s.max_relative_error)}, ` +
      `${s.agree ? "agrees" : "does not agree"} with the theory`);
    $("progress").value = 1;
    document.body.dataset.simulation = "done";
    if (state.view !== "curve") setView("curve");
    else refresh();
  }
  async function cancelSimulation() {
    if (job === null) return;
    const id = job;
    try {
      await fetch(`${BASE}/jobs/${id}`, { method: "DELETE", headers: headers() });
    } catch (error) {
      showErrors("sim", errorsOf(error), "simulation");
    }
  }
  // A shared link with sim=1: the simulation is shown again if the server has it stored.
  async function restoreSimulation() {
    if (!state.sim) return;
    const answer = await estimate();
    if (!answer || !answer.stored) { state.sim = false; writeURL(); return; }
    const request = compareRequest();
    try {
      finished(request, problemTag(), await post("/compare", request.body));
    } catch (error) {
      showErrors("sim", errorsOf(error), "simulation");
    }
  }

  // ------------------------------------------------------------------ share and download

  function exportRequest() {
    if (state.view === "curve" && overlay && overlay.tag === problemTag()) {
      return { path: "/compare", body: overlay.body };
    }
    return viewRequest();
  }
  async function download(format) {
    let request;
    try { request = exportRequest(); } catch (error) { return showErrors("theory", errorsOf(error)); }
    const params = new URLSearchParams({ format });
    if (format !== "csv") {
      if (state.view === "heatmap") { params.set("x", state.hx === "alpha" ? "alpha" : state.hx); params.set("y", state.hy); }
      if (state.view === "curve" && state.train) params.set("errors", "test,train");
    }
    $("status").textContent = `preparing ${format.toUpperCase()}…`;
    try {
      const response = await fetch(`${BASE}${request.path}?${params}`, {
        method: "POST", headers: headers(), body: JSON.stringify(request.body),
      });
      if (!response.ok) {
        throw new ApiError(response.status, await response.json().catch(() => null), response.headers.get("Retry-After"));
      }
      const blob = await response.blob();
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `srf-${state.view}.${format}`;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
      $("status").textContent = `${format.toUpperCase()} downloaded (${blob.size} bytes)`;
    } catch (error) {
      showErrors("theory", errorsOf(error));
      $("status").textContent = "";
    }
  }
  function python(value, indent = "") {
    if (value === null) return "None";
    if (value === true) return "True";
    if (value === false) return "False";
    if (Array.isArray(value)) return "[" + value.map((v) => python(v, indent)).join(", ") + "]";
    if (typeof value === "object") {
      return "{" + Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${python(v, indent)}`).join(", ") + "}";
    }
    return JSON.stringify(value);
  }
  function commands() {
    let request;
    try { request = exportRequest(); } catch { return; }
    const url = location.origin + BASE + request.path;
    const json = JSON.stringify(request.body);
    const auth = CONFIG.auth ? " -H \"Authorization: Bearer $SRF_API_KEY\"" : "";
    const slow = request.path === "/compare" ? " -H 'Prefer: respond-async'" : "";
    $("curl").textContent = `curl -s ${url}${auth}${slow} -H 'Content-Type: application/json' -d '${json.replace(/'/g, "'\\''")}'`;
    const header = CONFIG.auth ? ', headers={"Authorization": "Bearer " + os.environ["SRF_API_KEY"]}' : "";
    $("python").textContent = (CONFIG.auth ? "import os\n" : "") + "import httpx\n\n" +
      `body = ${python(request.body)}\n` +
      `response = httpx.post(${JSON.stringify(url)}, json=body${header}, timeout=600)\n` +
      "response.raise_for_status()\nresult = response.json()\n";
  }
  async function copy(text, what) {
    try {
      await navigator.clipboard.writeText(text);
      $("status").textContent = `${what} copied`;
    } catch {
      // No clipboard (an insecure origin): select the text so Ctrl-C copies it.
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      const ok = document.execCommand && document.execCommand("copy");
      area.remove();
      $("status").textContent = ok ? `${what} copied` : `${what}: copy it from “The request of this view”`;
    }
  }

  // ------------------------------------------------------------------ controls

  const sliders = {};
  function sliderScale(name) {
    const f = FIELDS[name];
    const zero = f.min === 0;
    const low = Math.max(f.log_min, f.min || 0), high = f.max;
    return {
      to(value) {
        if (zero && value <= 0) return 0;
        const t = Math.log(Math.max(value, low) / low) / Math.log(high / low);
        return Math.round((zero ? 1 : 0) + Math.min(1, t) * (SLIDER_STEPS - (zero ? 1 : 0)));
      },
      from(position) {
        if (zero && position === 0) return 0;
        const t = (position - (zero ? 1 : 0)) / (SLIDER_STEPS - (zero ? 1 : 0));
        return round(low * Math.pow(high / low, t), 3);
      },
    };
  }
  function buildNumber(box) {
    const name = box.dataset.field, f = FIELDS[name];
    const extra = [...box.children];
    const label = document.createElement("label");
    label.htmlFor = name;
    label.textContent = box.dataset.label;
    const line = document.createElement("div");
    line.className = "line";
    const range = document.createElement("input");
    Object.assign(range, { type: "range", min: 0, max: SLIDER_STEPS, step: 1, id: name + "-slider" });
    range.setAttribute("aria-label", box.dataset.label + " (logarithmic slider)");
    const number = document.createElement("input");
    Object.assign(number, { type: "number", id: name, name, step: "any" });
    if (f.min !== null) number.min = f.min;
    if (f.max !== null) number.max = f.max;
    number.title = `from ${f.min} to ${f.max} (the server's bounds)`;
    const error = document.createElement("span");
    error.className = "err"; error.id = "err-" + name; error.setAttribute("role", "alert");
    line.append(range, number);
    box.replaceChildren(label, line, ...extra, error);
    const s = sliderScale(name);
    sliders[name] = { range, number, s };
    range.addEventListener("input", () => {
      state[name] = s.from(Number(range.value));
      if (name === "ridge") $("ridge-optimal").checked = false;
      number.value = state[name];
      changed();
    });
    number.addEventListener("input", () => {
      if (number.value === "" || !Number.isFinite(Number(number.value))) {
        error.textContent = `${name}: enter a number from ${f.min} to ${f.max}`;
        return;
      }
      error.textContent = "";
      state[name] = Number(number.value);
      if (name === "ridge") $("ridge-optimal").checked = false;
      range.value = s.to(state[name]);
      changed();
    });
  }
  function setNumber(name) {
    const { range, number, s } = sliders[name];
    const value = state[name];
    if (value === "optimal") { number.value = ""; number.placeholder = "optimal"; return; }
    number.value = value;
    range.value = s.to(value);
  }
  function buildActivation(which) {
    const select = $(which);
    for (const a of CONFIG.activations) {
      const option = document.createElement("option");
      option.value = a.name;
      option.textContent = a.name + (a.centered ? "" : " (not centred)");
      option.title = a.description;
      select.appendChild(option);
    }
    const hermite = document.createElement("option");
    hermite.value = "hermite"; hermite.textContent = "Hermite coefficients…";
    select.appendChild(hermite);
    select.addEventListener("change", () => {
      state[which] = select.value === "hermite" ? { hermite: [0, 1, 0.5] } : select.value;
      setActivation(which);
      changed();
    });
    document.querySelector(`[data-add=${which}]`).addEventListener("click", () => {
      const c = state[which].hermite;
      if (c.length < CONFIG.hermite_max) { state[which] = { hermite: [...c, 0] }; setActivation(which); changed(); }
    });
    document.querySelector(`[data-remove=${which}]`).addEventListener("click", () => {
      const c = state[which].hermite;
      if (c.length > 1) { state[which] = { hermite: c.slice(0, -1) }; setActivation(which); changed(); }
    });
  }
  function setActivation(which) {
    const value = state[which];
    const isHermite = typeof value !== "string";
    $(which).value = isHermite ? "hermite" : value;
    $(which + "-hermite").hidden = !isHermite;
    const box = $(which + "-coefficients");
    box.replaceChildren();
    if (!isHermite) return;
    value.hermite.forEach((c, k) => {
      const input = document.createElement("input");
      Object.assign(input, { type: "number", step: "any", min: -100, max: 100, value: c, id: `${which}-c${k}` });
      input.setAttribute("aria-label", `${which} Hermite coefficient c${k}`);
      input.addEventListener("input", () => {
        if (!Number.isFinite(Number(input.value)) || input.value === "") return;
        const next = [...state[which].hermite];
        next[k] = Number(input.value);
        state[which] = { hermite: next };
        changed();
      });
      box.appendChild(input);
    });
  }
  function bindValue(id, name, parse = Number, delay = DEBOUNCE_MS) {
    const input = $(id);
    input.addEventListener("input", () => {
      const value = parse(input.value);
      if (typeof value === "number" && !Number.isFinite(value)) return;
      state[name] = value;
      changed(delay);
    });
  }
  function bindCheck(id, name) {
    $(id).addEventListener("change", () => { state[name] = $(id).checked; changed(0); });
  }
  function options(id, values) {
    for (const v of values) {
      const option = document.createElement("option");
      option.value = String(v); option.textContent = String(v);
      $(id).appendChild(option);
    }
  }
  function setView(view) {
    state.view = view;
    for (const button of document.querySelectorAll("[data-view]")) {
      button.setAttribute("aria-pressed", String(button.dataset.view === view));
    }
    $("curve-options").hidden = view !== "curve";
    $("heatmap-options").hidden = view !== "heatmap";
    $("function-options").hidden = view === "curve";
    changed(0);
  }
  function fill() {
    for (const name of PROBLEM) setNumber(name);
    $("ridge-optimal").checked = state.ridge === "optimal";
    setActivation("student"); setActivation("teacher");
    $("amin").value = state.amin; $("amax").value = state.amax; $("npoints").value = state.n;
    $("alog").checked = state.alog;
    $("mapping").value = state.mapping; $("bulk").value = state.bulk; $("row_norm").checked = state.row_norm;
    $("train").checked = state.train; $("ylog").checked = state.ylog;
    $("hx").value = state.hx; $("hy").value = state.hy; $("hxr").value = state.hxr; $("hyr").value = state.hyr;
    $("hn").value = state.hn; $("fa").value = state.fa;
    $("dimension").value = state.dim; $("seeds").value = state.seeds; $("simn").value = state.simn;
    $("model").value = state.model;
  }
  function build() {
    document.querySelectorAll(".num").forEach(buildNumber);
    buildActivation("student"); buildActivation("teacher");
    options("mapping", CONFIG.choices.mapping.values);
    options("bulk", CONFIG.choices.bulk.values);
    options("hx", AXES.slice().reverse()); options("hy", AXES.slice().reverse());
    const a = FIELDS.alpha, p = FIELDS.points, d = FIELDS.dimension, s = FIELDS.seeds;
    Object.assign($("amin"), { min: a.min, max: a.max, title: `> ${a.min}, at most ${a.max}` });
    Object.assign($("amax"), { min: a.min, max: a.max, title: `> ${a.min}, at most ${a.max}` });
    Object.assign($("npoints"), { min: p.min, max: p.max, title: `${p.min} to ${p.max} (SRF_MAX_ALPHAS)` });
    Object.assign($("fa"), { min: a.min, max: a.max });
    Object.assign($("dimension"), { min: d.min, max: d.max, title: `${d.min} to ${d.max} (SRF_MAX_DIMENSION)` });
    Object.assign($("seeds"), { min: s.min, max: s.max, title: `${s.min} to ${s.max} (SRF_MAX_SEEDS)` });
    Object.assign($("simn"), { max: p.max });
    $("ridge-optimal").addEventListener("change", () => {
      state.ridge = $("ridge-optimal").checked ? "optimal" : Number(sliders.ridge.number.value) || 0.1;
      setNumber("ridge");
      changed(0);
    });
    bindValue("amin", "amin"); bindValue("amax", "amax"); bindValue("npoints", "n");
    bindCheck("alog", "alog"); bindCheck("row_norm", "row_norm"); bindCheck("train", "train"); bindCheck("ylog", "ylog");
    $("mapping").addEventListener("change", () => { state.mapping = $("mapping").value; changed(0); });
    $("bulk").addEventListener("change", () => { state.bulk = $("bulk").value; changed(0); });
    $("hx").addEventListener("change", () => { state.hx = $("hx").value; changed(0); });
    $("hy").addEventListener("change", () => { state.hy = $("hy").value; changed(0); });
    bindValue("hxr", "hxr", String, 300); bindValue("hyr", "hyr", String, 300); bindValue("hn", "hn", Number, 300);
    bindValue("fa", "fa");
    bindValue("dimension", "dim"); bindValue("seeds", "seeds"); bindValue("simn", "simn");
    $("model").addEventListener("change", () => { state.model = $("model").value; changed(0); });
    for (const button of document.querySelectorAll("[data-view]")) {
      button.addEventListener("click", () => setView(button.dataset.view));
    }
    for (const button of document.querySelectorAll("[data-download]")) {
      button.addEventListener("click", () => download(button.dataset.download));
    }
    $("run").addEventListener("click", runSimulation);
    $("cancel").addEventListener("click", cancelSimulation);
    $("copy-link").addEventListener("click", () => copy(location.href, "link"));
    $("copy-curl").addEventListener("click", () => { commands(); copy($("curl").textContent, "curl command"); });
    $("copy-python").addEventListener("click", () => { commands(); copy($("python").textContent, "Python call"); });
    $("controls").addEventListener("submit", (event) => event.preventDefault());
    if (CONFIG.auth) {
      $("auth").hidden = false;
      $("apikey").value = sessionStorage.getItem("srf-api-key") || "";
      $("apikey").addEventListener("change", () => { sessionStorage.setItem("srf-api-key", $("apikey").value); changed(0); });
    }
  }

  readURL();
  build();
  fill();
  setView(state.view);
  restoreSimulation();
  // For tests and benchmarks: the state, the last redraws' timings, a redraw on demand, the running job.
  window.srfExplorer = { state, timings, refresh, config: CONFIG, job: () => job };
})();
