// The dashboard page: draw the server's figures once, then append live deltas.
//
// 1. GET /api/charts/<dashboard>?underlying=...  -> one Plotly figure per panel
//    (already downsampled on the server) and the session shading.
// 2. /ws/live?underlying=...  -> {"type": "delta", "series": {<live kind>: {<trace>: {x, y}}},
//    "status": {...}}; each panel appends its kind with Plotly.extendTraces (no reload).
// Messages that arrive before the charts are drawn wait in a queue; points not newer than
// a trace's last point are skipped, so an overlap with the initial window is harmless.
"use strict";

(function () {
  const MAX_POINTS_PER_TRACE = 20000;
  const body = document.body;
  const dashboard = body.dataset.dashboard;
  const underlying = body.dataset.underlying;
  const state = {
    ready: false, applied: 0, panels: [], colours: {}, shading: {},
    status: null, pending: [], retries: 0, socket: null,
  };
  window.divergence = state; // for debugging and the browser tests

  function showError(message) {
    const box = document.getElementById("error");
    box.textContent = message;
    box.hidden = false;
  }

  function setLive(text) {
    const live = document.getElementById("live");
    live.dataset.state = text;
    live.textContent = "live: " + text;
  }

  function setStatus(status) {
    if (!status) return;
    state.status = status;
    const badge = document.getElementById("badge");
    badge.dataset.session = status.session;
    badge.dataset.refState = status.ref_state;
    badge.textContent = "session: " + status.session + " · reference: " + status.ref_state;
  }

  function chartQuery() {
    const page = new URLSearchParams(window.location.search);
    const query = new URLSearchParams({ underlying: underlying });
    for (const key of ["start", "end", "width"]) {
      if (page.get(key)) query.set(key, page.get(key));
    }
    return query;
  }

  async function load() {
    const response = await fetch("/api/charts/" + encodeURIComponent(dashboard) + "?" + chartQuery());
    const payload = await response.json();
    if (!response.ok) {
      showError(payload.error ? payload.error.message : "cannot load the charts");
      return;
    }
    state.colours = payload.colours;
    state.shading = payload.shading;
    setStatus(payload.status);
    const main = document.getElementById("panels");
    for (const panel of payload.panels) {
      const div = document.createElement("div");
      div.id = "panel-" + panel.id;
      div.className = "chart";
      main.appendChild(div);
      await Plotly.newPlot(div, panel.figure.data, panel.figure.layout, {
        responsive: true, displaylogo: false,
      });
      state.panels.push({ id: panel.id, live: panel.live, div: div });
    }
    state.ready = true;
    body.dataset.ready = "true";
    for (const message of state.pending.splice(0)) applyDelta(message);
  }

  function newTrace(name) {
    return {
      type: "scatter", mode: "lines", name: name, legendgroup: name, x: [], y: [],
      line: { color: state.colours[name] || "#888888", width: name === "reference" ? 2.2 : 1.4 },
    };
  }

  function newerPoints(trace, xy) {
    const last = trace.x.length ? trace.x[trace.x.length - 1] : -Infinity;
    const x = [], y = [];
    for (let i = 0; i < xy.x.length; i++) {
      if (xy.x[i] > last) { x.push(xy.x[i]); y.push(xy.y[i]); }
    }
    return { x: x, y: y };
  }

  function extendPanel(panel, series) {
    const div = panel.div;
    const xs = [], ys = [], indices = [];
    for (const name of Object.keys(series)) {
      let index = div.data.findIndex((trace) => trace.name === name);
      if (index < 0) {
        Plotly.addTraces(div, newTrace(name));
        index = div.data.length - 1;
      }
      const fresh = newerPoints(div.data[index], series[name]);
      if (fresh.x.length === 0) continue;
      indices.push(index); xs.push(fresh.x); ys.push(fresh.y);
    }
    if (indices.length) Plotly.extendTraces(div, { x: xs, y: ys }, indices, MAX_POINTS_PER_TRACE);
  }

  // Grow the current session's band with the live data, or open a new one on a change.
  function extendShading(panel, previous, status) {
    const shapes = (panel.div.layout.shapes || []).map((s) => Object.assign({}, s));
    const last = shapes[shapes.length - 1];
    const colour = state.shading[status.session];
    if (last && last.name === status.session && previous && previous.session === status.session) {
      if (status.ts_ms <= last.x1) return;
      last.x1 = status.ts_ms;
    } else if (colour) {
      const x0 = previous ? previous.ts_ms : status.ts_ms;
      shapes.push({
        type: "rect", name: status.session, xref: "x", yref: "paper", x0: x0, x1: status.ts_ms,
        y0: 0, y1: 1, fillcolor: colour, line: { width: 0 }, layer: "below",
      });
    } else {
      return;
    }
    Plotly.relayout(panel.div, { shapes: shapes });
  }

  function applyDelta(message) {
    const previous = state.status;
    for (const panel of state.panels) {
      if (!panel.live) continue;
      extendPanel(panel, message.series[panel.live] || {});
      if (message.status) extendShading(panel, previous, message.status);
    }
    setStatus(message.status);
    state.applied += 1;
  }

  function onMessage(event) {
    const message = JSON.parse(event.data);
    if (message.type === "error") {
      showError(message.error.message);
    } else if (message.type === "hello") {
      if (!state.status) setStatus(message.status);
    } else if (message.type === "delta") {
      if (state.ready) applyDelta(message); else state.pending.push(message);
    }
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const url = scheme + "://" + window.location.host + "/ws/live?underlying=" +
      encodeURIComponent(underlying);
    const socket = new WebSocket(url);
    state.socket = socket;
    socket.onopen = () => { state.retries = 0; setLive("open"); };
    socket.onmessage = onMessage;
    socket.onclose = (event) => {
      setLive("closed");
      if (event.code === 4404) return;
      // capped exponential backoff with jitter
      const delay = Math.min(30000, 500 * 2 ** state.retries) * (0.5 + Math.random() / 2);
      state.retries += 1;
      window.setTimeout(connect, delay);
    };
  }

  document.getElementById("underlying-picker").addEventListener("change", (event) => {
    const page = new URLSearchParams(window.location.search);
    page.set("underlying", event.target.value);
    window.location.search = page.toString();
  });

  // A fixed window in the past (end=...) is history: no live updates.
  if (!new URLSearchParams(window.location.search).get("end")) connect();
  else setLive("off");
  load().catch((error) => showError("cannot draw the charts: " + error));
})();
