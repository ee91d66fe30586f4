// The activation explorer: controls generated from GET /activations, points from POST /activate and
// POST /gradient, drawn as SVG. No framework and no build step: the file is served as it is.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
// Okabe and Ito's palette, as the server-side plots (app/plots/svg.py) use it.
const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
const MARGIN = { left: 56, right: 16, top: 16, bottom: 36 };
const CLAMP = 1000; // in plot sizes, as on the server: coordinates stay finite, visible slopes stay true
const ROW_AXES = ["-1", "1"]; // axis-wise activations are plotted along the last axis of an [n, 2] tensor
const DEFAULT_EXPRESSION = "x * sigmoid(1.702 * x)";
const V2_DATATYPES = { float16: "FP16", bfloat16: "BF16", float32: "FP32", float64: "FP64" };
const NUMPY_DTYPES = { float16: "np.float16", bfloat16: "np.float32", float32: "np.float32", float64: "np.float64" };

const state = { catalogue: new Map(), curves: [], generation: 0, nextId: 1 };
let redrawTimer = 0;

// ---------------------------------------------------------------------------------------------
// Sampling and the API

/** lo + (hi - lo) * i / (n - 1): the expression the server and the snippets use, same doubles. */
function sampleX(lo, hi, n) {
  return Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
}

/** "NaN", "Infinity", "-Infinity" (strict JSON) as numbers. */
function toNumber(value) {
  return typeof value === "number" ? value : Number(value);
}

/** The API key typed in the page, if any, as the header the service reads. */
function keyHeaders() {
  const key = document.getElementById("api-key").value.trim();
  return key ? { "X-API-Key": key } : {};
}

async function postJson(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", ...keyHeaders() },
    body: JSON.stringify(body),
  });
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const where = (payload.errors || []).map((e) => e.loc.join(".")).join(", ");
    const detail = payload.detail || payload.error || response.statusText;
    throw new Error(`${response.status}: ${detail}${where ? ` (at ${where})` : ""}`);
  }
  return payload;
}

/** The request body of a curve: x as the plot sends it, its parameters, the dtype. */
function requestBody(curve, xs, dtype) {
  const spec = state.catalogue.get(curve.name);
  const x = spec.elementwise ? xs : xs.map((v) => [v, 0]);
  return { x, ...curve.params(), dtype };
}

/** dy one-hot on the plotted (first) element of each of n rows of the result, which has `width` columns. */
function oneHotRows(n, width) {
  return Array.from({ length: n }, () => Array.from({ length: width }, (_, j) => (j === 0 ? 1 : 0)));
}

/** y and, on request, dy/dx of one curve at xs (the first element of each row if axis-wise). */
async function computeCurve(curve, xs, dtype, derivative) {
  const spec = state.catalogue.get(curve.name);
  const body = requestBody(curve, xs, dtype);
  const path = encodeURIComponent(curve.name);
  const activated = await postJson(`/activate/${path}`, body);
  const first = (rows) => (spec.elementwise ? rows : rows.map((row) => row[0]));
  const result = { raw: first(activated.y), y: first(activated.y).map(toNumber), dydx: null, rawDydx: null };
  // The result's row length (2, glu: 1), which the upstream gradient of the snippets needs too.
  curve.rowWidth = spec.elementwise ? null : activated.shape[1];
  if (derivative) {
    // The upstream gradient one-hot on the plotted element gives d y[0] / d x[0] of each row.
    const dy = spec.elementwise ? undefined : oneHotRows(xs.length, curve.rowWidth);
    const gradient = await postJson(`/gradient/${path}`, dy === undefined ? body : { ...body, dy });
    result.rawDydx = first(gradient.dx);
    result.dydx = result.rawDydx.map(toNumber);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Controls generated from the catalogue's parameter metadata

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

/**
 * One control for a parameter, chosen by its declared type; returns [node, read] where read()
 * gives the value to send, or undefined to leave the parameter out (its default applies).
 */
function parameterControl(curveId, param) {
  const id = `c${curveId}-${param.name}`;
  const hintId = `${id}-hint`;
  const constraints = param.constraints.length ? ` (${param.constraints.join("; ")})` : "";
  const hint = element("small", { id: hintId, class: "hint", text: `${param.description}${constraints}` });
  const wrap = (control, label) => {
    const row = element("div", { class: "param" }, element("label", { for: id, text: label }), control, hint);
    return row;
  };
  const label = param.required ? `${param.name} (required)` : param.name;
  switch (param.type) {
    case "boolean": {
      const input = element("input", { id, type: "checkbox", "aria-describedby": hintId, checked: param.default === true });
      const row = element("div", { class: "param check" }, input, element("label", { for: id, text: param.name }), hint);
      return [row, () => (input.checked === param.default ? undefined : input.checked)];
    }
    case "integer":
    case "integer | integer[]": {
      // An axis: the plot's tensor is [n, 2] and its rows are along the last axis, -1 or 1.
      const select = element("select", { id, "aria-describedby": hintId });
      for (const axis of ROW_AXES) select.append(element("option", { value: axis, text: axis === "-1" ? "-1 (the row)" : axis }));
      return [wrap(select, label), () => (select.value === String(param.default) ? undefined : Number(select.value))];
    }
    case "array of 0/1 or booleans": {
      // A mask over the plotted row [x, 0]: one checkbox per element, both kept means no mask.
      const keep = ["x", "0"].map((what, j) =>
        element("input", { id: j === 0 ? id : `${id}-${j}`, type: "checkbox", checked: true, "aria-describedby": hintId })
      );
      const group = element(
        "fieldset",
        { class: "param mask" },
        element("legend", { text: `${param.name}: keep each element of the row [x, 0]` }),
        ...keep.map((input, j) =>
          element("label", { class: "check" }, input, ` keep ${j === 0 ? "x (the plotted element)" : "the 0 beside it"}`)
        ),
        hint
      );
      return [group, () => (keep.every((input) => input.checked) ? undefined : keep.map((input) => (input.checked ? 1 : 0)))];
    }
    case "string": {
      const input = element("input", {
        id,
        type: "text",
        value: param.name === "expression" ? DEFAULT_EXPRESSION : param.default ?? "",
        spellcheck: "false",
        autocomplete: "off",
        "aria-describedby": hintId,
        required: param.required,
      });
      return [wrap(input, label), () => input.value];
    }
    default: {
      // "number", "number | null" and PReLU's "number | array" (a scalar slope here).
      const optional = param.type === "number | null";
      const start = param.default ?? (param.required ? 0 : "");
      const input = element("input", {
        id,
        type: "number",
        step: "any",
        value: String(start),
        placeholder: optional ? "null" : null,
        required: !optional,
        "aria-describedby": hintId,
      });
      const read = () => {
        if (input.value.trim() === "") return optional ? undefined : NaN;
        const value = Number(input.value);
        return value === param.default ? undefined : value;
      };
      return [wrap(input, label), read];
    }
  }
}

function addCurve(name) {
  const id = state.nextId++;
  const curve = { id, name, readers: {}, node: null };
  curve.params = () => {
    const params = {};
    for (const [key, read] of Object.entries(curve.readers)) {
      const value = read();
      if (value !== undefined) params[key] = value;
    }
    return params;
  };
  const select = element("select", { id: `c${id}-name`, class: "name" });
  for (const spec of state.catalogue.values()) select.append(element("option", { value: spec.name, text: spec.name }));
  select.value = name;
  const swatch = element("span", { class: "swatch", "aria-hidden": "true" });
  const heading = element("legend", {}, swatch, element("span", { class: "title" }));
  const paramBox = element("div", { class: "params" });
  const error = element("p", { class: "error", role: "alert", hidden: true });
  const summary = element("p", { class: "summary" });
  const about = element("details", { class: "about" }, element("summary", { text: "Formula and differences from TensorFlow" }));
  const request = requestPanel(curve);
  const remove = element("button", { type: "button", class: "remove", text: "Remove" });
  const fieldset = element(
    "fieldset",
    {},
    heading,
    element("div", { class: "param" }, element("label", { for: select.id, text: "Activation" }), select),
    paramBox,
    error,
    summary,
    about,
    request.node,
    remove
  );
  curve.node = element("li", { class: "curve", "data-curve": String(id) }, fieldset);
  Object.assign(curve, { select, swatch, heading, paramBox, error, summary, about, request });
  select.addEventListener("change", () => {
    curve.name = select.value;
    buildParameters(curve);
    scheduleRedraw();
  });
  remove.addEventListener("click", () => {
    state.curves = state.curves.filter((c) => c !== curve);
    curve.node.remove();
    document.getElementById("add-curve").focus();
    refreshCards();
    scheduleRedraw();
  });
  fieldset.addEventListener("input", (event) => {
    if (event.target !== select && !curve.request.node.contains(event.target)) scheduleRedraw();
  });
  state.curves.push(curve);
  document.getElementById("curve-list").append(curve.node);
  buildParameters(curve);
  refreshCards();
  return curve;
}

/** The parameter controls and the documentation of the curve's activation, from its metadata. */
function buildParameters(curve) {
  const spec = state.catalogue.get(curve.name);
  curve.readers = {};
  curve.paramBox.textContent = "";
  for (const param of spec.params) {
    const [node, read] = parameterControl(curve.id, param);
    curve.paramBox.append(node);
    curve.readers[param.name] = read;
  }
  curve.summary.textContent = spec.summary;
  const about = curve.about;
  while (about.children.length > 1) about.lastElementChild.remove();
  about.append(element("p", {}, spec.name === "custom" ? "Grammar: " : "Formula: ", element("code", { text: spec.formula })));
  const differences = spec.tf_differences.length
    ? element("ul", {}, ...spec.tf_differences.map((text) => element("li", { text })))
    : element("p", { text: "No documented difference from TensorFlow." });
  about.append(element("p", { text: "Differences from TensorFlow:" }), differences);
  about.append(element("p", { class: "hint", text: `Reference: ${spec.keras_reference}` }));
  if (spec.aliases.length) about.append(element("p", { class: "hint", text: `Aliases: ${spec.aliases.join(", ")}` }));
}

function refreshCards() {
  state.curves.forEach((curve, i) => {
    curve.color = PALETTE[i % PALETTE.length];
    curve.swatch.style.background = curve.color;
    curve.heading.querySelector(".title").textContent = ` Curve ${i + 1}`;
  });
}

// ---------------------------------------------------------------------------------------------
// Equivalent requests: curl, Python with httpx, tritonclient

function requestPanel(curve) {
  const name = `c${curve.id}-client`;
  const clients = [
    ["curl", "curl"],
    ["httpx", "Python (httpx)"],
    ["tritonclient", "tritonclient (KServe v2)"],
  ];
  const radios = clients.map(([value, text], i) =>
    element("label", { class: "check" }, element("input", { type: "radio", name, value, checked: i === 0 }), ` ${text}`)
  );
  const code = element("code");
  const pre = element("pre", { tabindex: "0", "aria-label": "request" }, code);
  const copy = element("button", { type: "button", text: "Copy" });
  const copied = element("span", { class: "hint", role: "status" });
  const chooser = element("fieldset", { class: "clients" }, element("legend", { text: "Client" }), ...radios);
  const node = element("details", { class: "request" }, element("summary", { text: "Equivalent request" }), chooser, pre, copy, copied);
  const panel = { node, code, client: "curl" };
  chooser.addEventListener("change", (event) => {
    panel.client = event.target.value;
    panel.render();
  });
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(code.textContent);
      copied.textContent = " Copied.";
    } catch {
      // No clipboard (an insecure origin): select the text for Ctrl+C instead.
      getSelection().selectAllChildren(code);
      copied.textContent = " Selected: press Ctrl+C.";
    }
  });
  node.addEventListener("toggle", () => panel.render());
  panel.render = () => {
    if (!node.open) return;
    const range = readRange();
    if (range.error) return;
    code.textContent = snippet(panel.client, curve, range);
  };
  return panel;
}

function pythonValue(value) {
  if (value === null || value === undefined) return "None";
  if (typeof value === "object" && !Array.isArray(value)) {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pythonValue(v)}`).join(", ")}}`;
  }
  if (value === true) return "True";
  if (value === false) return "False";
  if (Array.isArray(value)) return `[${value.map(pythonValue).join(", ")}]`;
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function snippet(client, curve, range) {
  const spec = state.catalogue.get(curve.name);
  const base = location.origin;
  const params = curve.params();
  const { lo, hi, n, dtype, derivative } = range;
  const path = encodeURIComponent(curve.name);
  if (client === "curl") {
    const shell = (text) => `'${text.replace(/'/g, "'\\''")}'`; // single-quoted for a POSIX shell
    const body = requestBody(curve, sampleX(lo, hi, n), dtype);
    const key = Object.entries(keyHeaders()).map(([name, value]) => ` -H ${shell(`${name}: ${value}`)}`).join("");
    const post = (endpoint, payload) =>
      `curl -sS ${base}/${endpoint}/${path} -H 'Content-Type: application/json'${key} -d ${shell(JSON.stringify(payload))}`;
    const lines = [post("activate", body)];
    if (derivative) {
      const dy = spec.elementwise ? {} : { dy: oneHotRows(n, curve.rowWidth || 2) };
      lines.push("", post("gradient", { ...body, ...dy }));
    }
    return lines.join("\n");
  }
  const fields = Object.entries(params).map(([key, value]) => `, ${JSON.stringify(key)}: ${pythonValue(value)}`).join("");
  const headers = Object.keys(keyHeaders()).length ? `, headers=${pythonValue(keyHeaders())}` : "";
  if (client === "httpx") {
    const x = spec.elementwise ? "x" : "[[v, 0.0] for v in x]";
    const lines = [
      "import httpx",
      "",
      `lo, hi, n = ${lo}, ${hi}, ${n}`,
      "x = [lo + (hi - lo) * i / (n - 1) for i in range(n)]",
      `body = {"x": ${x}${fields}, "dtype": "${dtype}"}`,
      `response = httpx.post("${base}/activate/${path}", json=body${headers})`,
      "response.raise_for_status()",
      spec.elementwise ? 'y = response.json()["y"]' : 'y = [row[0] for row in response.json()["y"]]',
    ];
    if (derivative) {
      if (!spec.elementwise) lines.push('body["dy"] = [[1.0] + [0.0] * (len(row) - 1) for row in response.json()["y"]]');
      lines.push(
        `gradient = httpx.post("${base}/gradient/${path}", json=body${headers})`,
        "gradient.raise_for_status()",
        spec.elementwise ? 'dydx = gradient.json()["dx"]' : 'dydx = [row[0] for row in gradient.json()["dx"]]'
      );
    }
    return lines.join("\n");
  }
  if (curve.name === "custom") {
    return "# Custom expressions are not KServe v2 models: use the native API (curl or httpx).";
  }
  const tensorParams = spec.params.filter((p) => p.type === "array of 0/1 or booleans" && params[p.name] !== undefined);
  const scalarParams = Object.entries(params).filter(([key]) => !tensorParams.some((p) => p.name === key));
  const lines = [
    "import numpy as np",
    "import tritonclient.http as httpclient",
    "",
    `lo, hi, n = ${lo}, ${hi}, ${n}`,
    "x = lo + (hi - lo) * np.arange(n) / (n - 1)",
    spec.elementwise ? `x = x.astype(${NUMPY_DTYPES[dtype]})` : `x = np.stack([x, np.zeros(n)], axis=1).astype(${NUMPY_DTYPES[dtype]})`,
    `client = httpclient.InferenceServerClient("${location.host}")`,
    `inputs = [httpclient.InferInput("x", list(x.shape), "${V2_DATATYPES[dtype]}")]`,
    "inputs[0].set_data_from_numpy(x)",
  ];
  for (const param of tensorParams) {
    const mask = params[param.name].map((v) => (v ? "True" : "False")).join(", ");
    lines.push(
      `inputs.append(httpclient.InferInput("${param.name}", [2], "BOOL"))`,
      `inputs[-1].set_data_from_numpy(np.array([${mask}]))`
    );
  }
  const parameters = scalarParams.map(([key, value]) => `${JSON.stringify(key)}: ${pythonValue(value)}`).join(", ");
  lines.push(
    `result = client.infer("${curve.name}", inputs${parameters ? `, parameters={${parameters}}` : ""}${headers})`,
    spec.elementwise ? 'y = result.as_numpy("y")' : 'y = result.as_numpy("y")[:, 0]'
  );
  if (derivative) lines.push("# KServe v2 has no gradient: use POST /gradient (curl or httpx) for the derivative.");
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Drawing

function niceTicks(low, high, target = 6) {
  const span = high - low;
  if (!(span > 0) || !Number.isFinite(span)) return [low];
  const raw = span / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  if (!(step > 0) || span / step > 100) return [low]; // a range too narrow for doubles to tick
  const ticks = [];
  for (let k = Math.ceil(low / step - 1e-9); k <= Math.floor(high / step + 1e-9); k++) ticks.push(k * step + 0);
  return ticks;
}

function formatTick(value, step) {
  if (value === 0) return "0";
  const power = Math.floor(Math.log10(step) + 1e-9);
  const extra = Math.abs(step / 10 ** power - 2.5) < 1e-6 ? 1 : 0; // 2.5, 0.25: one digit more
  if (Math.abs(value) >= 1e-4 && Math.abs(value) < 1e5) return value.toFixed(Math.max(0, -power + extra));
  const digits = Math.max(1, Math.floor(Math.log10(Math.abs(value))) - power + 1 + extra);
  return String(Number(value.toPrecision(Math.min(digits, 21))));
}

function svgNode(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/** series: [{label, color, dashed, x: number[], y: number[], raw: (number|string)[], curve, kind}] */
function draw(series, xRange, yRange) {
  const svg = document.getElementById("plot");
  svg.textContent = "";
  // The drawing is as wide as its box in CSS pixels, so labels keep their size on a phone.
  const width = Math.max(300, Math.round(svg.getBoundingClientRect().width) || 640);
  const height = Math.round(Math.min(Math.max(width * 0.62, 260), 480));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const { left, right: marginRight, top, bottom: marginBottom } = MARGIN;
  const plotW = width - left - marginRight;
  const plotH = height - top - marginBottom;
  const [x0, x1] = xRange;
  let [y0, y1] = yRange || extent(series);
  const px = (x) => Math.min(Math.max(left + ((x - x0) / (x1 - x0)) * plotW, -CLAMP * plotW), CLAMP * plotW);
  const py = (y) => Math.min(Math.max(top + plotH - ((y - y0) / (y1 - y0)) * plotH, -CLAMP * plotH), CLAMP * plotH);
  Object.assign(svg.dataset, { xMin: x0, xMax: x1, yMin: y0, yMax: y1, left, top, plotWidth: plotW, plotHeight: plotH });
  svg.append(svgNode("rect", { width, height, fill: "#fff" }));
  const defs = svgNode("defs");
  const clip = svgNode("clipPath", { id: "plot-area" });
  clip.append(svgNode("rect", { x: left, y: top, width: plotW, height: plotH }));
  defs.append(clip);
  svg.append(defs);
  const grid = svgNode("g", { stroke: "#e3e3e3" });
  const labels = svgNode("g", { fill: "#333", "font-size": 12 });
  const xTicks = niceTicks(x0, x1);
  const yTicks = niceTicks(y0, y1);
  const xStep = xTicks.length > 1 ? xTicks[1] - xTicks[0] : 1;
  const yStep = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1;
  for (const t of xTicks) {
    grid.append(svgNode("line", { x1: px(t), y1: top, x2: px(t), y2: top + plotH }));
    labels.append(svgNode("text", { x: px(t), y: top + plotH + 16, "text-anchor": "middle" }, formatTick(t, xStep)));
  }
  for (const t of yTicks) {
    grid.append(svgNode("line", { x1: left, y1: py(t), x2: left + plotW, y2: py(t) }));
    labels.append(svgNode("text", { x: left - 6, y: py(t) + 4, "text-anchor": "end" }, formatTick(t, yStep)));
  }
  labels.append(svgNode("text", { x: left + plotW / 2, y: height - 4, "text-anchor": "middle" }, "x"));
  svg.append(grid);
  const zero = svgNode("g", { stroke: "#888" });
  if (x0 < 0 && 0 < x1) zero.append(svgNode("line", { x1: px(0), y1: top, x2: px(0), y2: top + plotH }));
  if (y0 < 0 && 0 < y1) zero.append(svgNode("line", { x1: left, y1: py(0), x2: left + plotW, y2: py(0) }));
  svg.append(zero);
  const curves = svgNode("g", { "clip-path": "url(#plot-area)", fill: "none", "stroke-width": 2, "stroke-linejoin": "round" });
  for (const s of series) {
    // data-x and data-y keep the API's values as they came, for anyone (and the browser tests) to check.
    const group = svgNode("g", { class: "series", "data-curve": s.curve, "data-kind": s.kind, "data-name": s.name });
    group.dataset.params = JSON.stringify(s.params);
    group.dataset.x = JSON.stringify(s.x);
    group.dataset.y = JSON.stringify(s.raw);
    let run = [];
    const flush = () => {
      if (run.length > 1) {
        const line = svgNode("polyline", { stroke: s.color, points: run.join(" ") });
        if (s.dashed) line.setAttribute("stroke-dasharray", "6 4");
        group.append(line);
      }
      run = [];
    };
    s.y.forEach((y, i) => {
      if (Number.isFinite(y)) run.push(`${px(s.x[i]).toFixed(2)},${py(y).toFixed(2)}`);
      else flush();
    });
    flush();
    curves.append(group);
  }
  svg.append(curves);
  svg.append(svgNode("rect", { x: left, y: top, width: plotW, height: plotH, fill: "none", stroke: "#444" }));
  svg.append(labels);
  const legend = document.getElementById("legend");
  legend.textContent = "";
  for (const s of series) {
    const key = element("span", { class: s.dashed ? "key dashed" : "key", "aria-hidden": "true" });
    key.style.borderColor = s.color;
    legend.append(element("li", {}, key, ` ${s.label}`));
  }
}

function extent(series) {
  let low = Infinity;
  let high = -Infinity;
  for (const s of series) {
    for (const value of s.y) {
      if (Number.isFinite(value)) {
        const y = Math.min(Math.max(value, -1e300), 1e300); // beyond: off the view, the span stays finite
        low = Math.min(low, y);
        high = Math.max(high, y);
      }
    }
  }
  if (low > high) return [-1, 1];
  if (high - low <= 1e-12 * Math.max(Math.abs(low), Math.abs(high), 1e-280)) {
    const pad = Math.max(Math.abs(low) * 0.1, 1);
    return [low - pad, high + pad];
  }
  const pad = (high - low) * 0.05;
  return [low - pad, high + pad];
}

// ---------------------------------------------------------------------------------------------
// The range form, and putting it together

function readRange() {
  const value = (id) => document.getElementById(id).value.trim();
  const lo = Number(value("x-min"));
  const hi = Number(value("x-max"));
  const n = Number(value("points"));
  const yLow = value("y-min");
  const yHigh = value("y-max");
  const range = {
    lo,
    hi,
    n,
    dtype: value("dtype"),
    derivative: document.getElementById("derivative").checked,
    yRange: null,
    error: null,
  };
  if (value("x-min") === "" || value("x-max") === "" || !Number.isFinite(lo) || !Number.isFinite(hi)) {
    range.error = "x from and to must be numbers.";
  } else if (!(hi - lo >= 1e-9)) range.error = "x from must be less than x to (by at least 1e-9).";
  else if (!Number.isInteger(n) || n < 2 || n > 2001) range.error = "points must be a whole number from 2 to 2001.";
  else if ((yLow === "") !== (yHigh === "")) range.error = "Give both y limits, or neither (auto).";
  else if (yLow !== "") {
    range.yRange = [Number(yLow), Number(yHigh)];
    if (!(range.yRange[1] - range.yRange[0] >= 1e-9)) range.error = "y from must be less than y to (by at least 1e-9).";
  }
  return range;
}

// body[data-state]: pending (a redraw is due), busy (waiting for the API), ready (drawn), invalid
// (the range form has an error); what a script or a test waits for.
function scheduleRedraw() {
  document.body.dataset.state = "pending";
  clearTimeout(redrawTimer);
  redrawTimer = setTimeout(redraw, 150);
}

async function redraw() {
  const generation = ++state.generation;
  const range = readRange();
  const rangeError = document.getElementById("range-error");
  rangeError.hidden = !range.error;
  rangeError.textContent = range.error || "";
  if (range.error) {
    document.body.dataset.state = "invalid";
    return;
  }
  const status = document.getElementById("status");
  status.textContent = "Computing…";
  document.body.dataset.state = "busy";
  const xs = sampleX(range.lo, range.hi, range.n);
  const results = await Promise.all(
    state.curves.map((curve) =>
      computeCurve(curve, xs, range.dtype, range.derivative).then(
        (value) => ({ curve, value }),
        (error) => ({ curve, error })
      )
    )
  );
  // A newer redraw is running, or scheduled by an edit made while this one waited: it draws instead.
  if (generation !== state.generation || document.body.dataset.state === "pending") return;
  const series = [];
  let failed = 0;
  for (const { curve, value, error } of results) {
    curve.error.hidden = !error;
    curve.error.textContent = error ? error.message : "";
    curve.request.render();
    if (error) {
      failed += 1;
      continue;
    }
    const label = curveLabel(curve);
    const common = { curve: curve.id, name: curve.name, params: curve.params(), color: curve.color, x: xs };
    series.push({ ...common, kind: "y", label, dashed: false, y: value.y, raw: value.raw });
    if (value.dydx) series.push({ ...common, kind: "dydx", label: `d/dx ${label}`, dashed: true, y: value.dydx, raw: value.rawDydx });
  }
  draw(series, [range.lo, range.hi], range.yRange);
  tabulate(series, xs);
  // The address names the curves, so a link reopens the same comparison.
  history.replaceState(null, "", `#${state.curves.map((c) => encodeURIComponent(c.name)).join(",")}`);
  document.getElementById("plot").dataset.dtype = range.dtype;
  const drawn = state.curves.length - failed;
  status.textContent = `Plotted ${drawn} ${drawn === 1 ? "activation" : "activations"} at ${range.n} points (${range.dtype})` +
    (failed ? `; ${failed} with an error, shown beside it.` : ".");
  document.body.dataset.state = "ready";
}

/** Every series at up to 21 evenly spaced points, for readers who cannot see the plot. */
function tabulate(series, xs) {
  const table = document.getElementById("values");
  table.textContent = "";
  const step = Math.max(1, Math.ceil((xs.length - 1) / 20));
  const rows = [];
  for (let i = 0; i < xs.length; i += step) rows.push(i);
  if (rows[rows.length - 1] !== xs.length - 1) rows.push(xs.length - 1);
  const head = element("tr", {}, element("th", { scope: "col", text: "x" }), ...series.map((s) => element("th", { scope: "col", text: s.label })));
  table.append(element("thead", {}, head));
  const body = element("tbody");
  for (const i of rows) {
    body.append(element("tr", {}, element("th", { scope: "row", text: String(xs[i]) }), ...series.map((s) => element("td", { text: String(s.raw[i]) }))));
  }
  table.append(body);
}

function curveLabel(curve) {
  const params = curve.params();
  if (curve.name === "custom") return `custom: ${params.expression}`;
  const shown = Object.entries(params).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  return shown.length ? `${curve.name}(${shown.join(", ")})` : curve.name;
}

/** The catalogue from GET /activations; false (with the reason shown) when it cannot be had. */
async function loadCatalogue() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/activations", { headers: { Accept: "application/json", ...keyHeaders() } });
    if (response.status === 401) {
      // A service with ACTIVATIONS_API_KEY set: ask for the key, and try again once it is typed.
      status.textContent = "This service requires an API key: enter it under \u201cAPI key\u201d.";
      const panel = document.getElementById("key-panel");
      panel.open = true;
      document.getElementById("api-key").focus();
      document.body.dataset.state = "key";
      return false;
    }
    if (!response.ok) throw new Error(`GET /activations answered ${response.status}`);
    const { activations } = await response.json();
    for (const spec of activations) state.catalogue.set(spec.name, spec);
    return true;
  } catch (error) {
    status.textContent = `Could not load the catalogue: ${error.message}`;
    document.body.dataset.state = "error";
    return false;
  }
}

async function start() {
  const form = document.getElementById("range");
  const key = document.getElementById("api-key");
  // Enter in a field submits the form: redraw (once the catalogue is there), never reload the page.
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (state.catalogue.size) redraw();
  });
  key.value = sessionStorage.getItem("activations-api-key") || "";
  key.addEventListener("change", () => sessionStorage.setItem("activations-api-key", key.value.trim()));
  while (!(await loadCatalogue())) {
    if (document.body.dataset.state !== "key") return;
    await new Promise((resolve) => {
      key.addEventListener("change", resolve, { once: true });
      form.addEventListener("submit", resolve, { once: true });
    });
  }
  const decode = (text) => {
    try {
      return decodeURIComponent(text);
    } catch {
      return ""; // a malformed address opens the default curves
    }
  };
  const names = location.hash.slice(1).split(",").map(decode).filter((name) => state.catalogue.has(name));
  for (const name of names.length ? names : ["relu", "gelu"]) addCurve(name);
  document.getElementById("add-curve").addEventListener("click", () => {
    const used = new Set(state.curves.map((c) => c.name));
    const next = [...state.catalogue.keys()].find((name) => !used.has(name)) || "relu";
    addCurve(next).select.focus();
    scheduleRedraw();
  });
  document.getElementById("range").addEventListener("input", scheduleRedraw);
  let lastWidth = window.innerWidth;
  window.addEventListener("resize", () => {
    if (window.innerWidth !== lastWidth) scheduleRedraw();
    lastWidth = window.innerWidth;
  });
  await redraw();
}

start();
