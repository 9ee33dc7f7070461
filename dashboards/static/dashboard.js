// A dashboard page, driven by its spec: draw the server's panels, follow the URL, go live.
//
// 1. GET /api/charts/<dashboard>?underlying&venue&start&end&width -> one entry per panel:
//    a Plotly figure (already downsampled on the server to about 2 points per pixel of
//    `width`, this page's plot width), or a table (columns, rows, links, actions).
// 2. The URL is the state: zooming a time chart sets start/end (history.pushState) and
//    refetches that window at full resolution; back/forward and a pasted URL reproduce it.
// 3. Live, only while the URL has no `end` (a fixed window is history):
//    /ws/live?underlying=...  -> basis points appended with Plotly.extendTraces;
//    /ws/panels/<dashboard>   -> changed table rows and heatmap cells (deltas).
// 4. Every panel has CSV (the server's rows for the same view) and PNG buttons.
"use strict";

(function () {
  const MAX_POINTS_PER_TRACE = 20000;
  const body = document.body;
  const dashboard = body.dataset.dashboard;
  const scope = body.dataset.scope;
  const underlying = body.dataset.underlying || null;
  const state = {
    ready: false, applied: 0, loads: 0, panels: [], byId: {}, colours: {}, shading: {},
    status: null, pending: [], retries: 0, sockets: [], window: null, updates: {},
    tables: {},
  };
  window.divergence = state; // for debugging and the browser tests

  // -- small helpers ---------------------------------------------------------------------
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

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
    badge.hidden = false;
    badge.dataset.session = status.session;
    badge.dataset.refState = status.ref_state;
    badge.textContent = "session: " + status.session + " · reference: " + status.ref_state;
  }

  function pageParams() {
    return new URLSearchParams(window.location.search);
  }

  // The view's parameters, from the URL (the page's state).
  function viewQuery() {
    const page = pageParams();
    const query = new URLSearchParams();
    if (underlying) query.set("underlying", underlying);
    for (const key of ["venue", "start", "end"]) {
      if (page.get(key)) query.set(key, page.get(key));
    }
    return query;
  }

  function plotWidth() {
    const main = document.getElementById("panels");
    return Math.max(100, Math.round(main.clientWidth - 80));
  }

  function msToNs(ms) {
    return String(BigInt(Math.round(ms)) * 1000000n);
  }

  function nsToMs(ns) {
    return Number(BigInt(ns) / 1000000n);
  }

  function bump(panelId) {
    state.updates[panelId] = (state.updates[panelId] || 0) + 1;
    const entry = state.byId[panelId];
    if (entry) entry.box.dataset.updates = String(state.updates[panelId]);
  }

  // -- loading and drawing ---------------------------------------------------------------
  async function load() {
    const query = viewQuery();
    query.set("width", String(plotWidth()));
    const response = await fetch("/api/charts/" + encodeURIComponent(dashboard) + "?" + query);
    const payload = await response.json();
    if (!response.ok) {
      showError(payload.error ? payload.error.message : "cannot load the charts");
      return;
    }
    state.colours = payload.colours;
    state.shading = payload.shading;
    state.window = payload.window;
    state.livePanels = payload.panels.some((p) => (p.refresh_on || []).length > 0);
    setStatus(payload.status);
    showWindow();
    document.getElementById("data-link").href = "/api/charts/" + dashboard + "?" + viewQuery();
    const main = document.getElementById("panels");
    for (const panel of payload.panels) {
      let entry = state.byId[panel.id];
      if (!entry) {
        entry = makePanel(main, panel);
        state.byId[panel.id] = entry;
        state.panels.push(entry);
      }
      entry.live = panel.live;
      entry.chart = panel.chart;
      if (panel.table) drawTable(entry, panel.table);
      else await drawFigure(entry, panel.figure);
      entry.box.dataset.rows = String(panel.rows);
    }
    state.loads += 1;
    state.ready = true;
    body.dataset.ready = "true";
    body.dataset.loads = String(state.loads);
    for (const message of state.pending.splice(0)) onLiveMessage(message);
  }

  function makePanel(main, panel) {
    const box = el("section", { id: "box-" + panel.id, class: "panel panel-" + panel.chart });
    const bar = el("div", { class: "panel-bar" });
    bar.appendChild(el("h2", {}, panel.title));
    const csv = el("a", { class: "csv", href: "#", download: "" }, "CSV");
    const png = el("button", { class: "png", type: "button" }, "PNG");
    bar.appendChild(csv);
    bar.appendChild(png);
    box.appendChild(bar);
    if (panel.description) box.appendChild(el("p", { class: "panel-description" }, panel.description));
    const div = el("div", { id: "panel-" + panel.id, class: "chart" });
    box.appendChild(div);
    main.appendChild(box);
    const entry = { id: panel.id, box: box, div: div, csv: csv, live: panel.live, chart: panel.chart };
    csv.addEventListener("click", () => { csv.href = csvUrl(panel.id); });
    csv.href = csvUrl(panel.id);
    png.addEventListener("click", () => downloadPng(entry));
    return entry;
  }

  function csvUrl(panelId) {
    return "/api/charts/" + encodeURIComponent(dashboard) + "/" + encodeURIComponent(panelId) +
      ".csv?" + viewQuery();
  }

  async function drawFigure(entry, figure) {
    const layout = figure.layout;
    // The panel's heading shows the title on the page; the PNG puts it back.
    entry.title = layout.title ? layout.title.text : "";
    layout.title = { text: "" };
    if (layout.margin && layout.margin.t === 40) layout.margin.t = 24;
    const page = pageParams();
    if (layout.xaxis && layout.xaxis.type === "date" && page.get("start") && page.get("end")) {
      layout.xaxis.range = [nsToMs(state.window.start_ns), nsToMs(state.window.end_ns)];
    }
    if (entry.drawn) {
      await Plotly.react(entry.div, figure.data, layout);
    } else {
      await Plotly.newPlot(entry.div, figure.data, layout, { responsive: true, displaylogo: false });
      entry.drawn = true;
      if (layout.xaxis && layout.xaxis.type === "date") {
        entry.div.on("plotly_relayout", (event) => onZoom(entry, event));
      }
    }
  }

  // -- tables ------------------------------------------------------------------------------
  function drawTable(entry, table) {
    let model = state.tables[entry.id];
    if (!model) {
      model = { sort: null, desc: false, filter: "" };
      state.tables[entry.id] = model;
      const filter = el("input", { type: "search", class: "filter", placeholder: "filter: text or column:value" });
      filter.addEventListener("input", () => { model.filter = filter.value; renderTable(entry); });
      entry.div.appendChild(filter);
      const wrap = el("div", { class: "table-wrap" });
      wrap.appendChild(el("table", { class: "data" }));
      entry.div.appendChild(wrap);
    }
    Object.assign(model, {
      columns: table.columns, rows: table.rows.slice(), links: table.links || {},
      key: table.key || [], actions: table.actions || [],
    });
    renderTable(entry);
  }

  function visibleColumns(model) {
    return model.columns.filter((c) => !c.endsWith("_ns") && c !== "fingerprint");
  }

  function rowMatches(model, row, filter) {
    if (!filter) return true;
    for (const term of filter.toLowerCase().split(/\s+/).filter(Boolean)) {
      const split = term.indexOf(":");
      if (split > 0 && model.columns.includes(term.slice(0, split))) {
        const value = row[model.columns.indexOf(term.slice(0, split))];
        if (!String(value === null ? "" : value).toLowerCase().includes(term.slice(split + 1))) return false;
      } else if (!row.some((v) => String(v === null ? "" : v).toLowerCase().includes(term))) {
        return false;
      }
    }
    return true;
  }

  function fillTemplate(template, model, row) {
    let ok = true;
    const href = template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name) => {
      const value = row[model.columns.indexOf(name)];
      if (value === null || value === undefined || value === "") ok = false;
      return encodeURIComponent(value === null || value === undefined ? "" : value);
    });
    return ok ? href : null;
  }

  function renderTable(entry) {
    const model = state.tables[entry.id];
    const table = entry.div.querySelector("table");
    table.textContent = "";
    const columns = visibleColumns(model);
    const head = el("tr");
    for (const column of columns) {
      const th = el("th", { "data-column": column }, column + (model.sort === column ? (model.desc ? " ▼" : " ▲") : ""));
      th.addEventListener("click", () => {
        model.desc = model.sort === column ? !model.desc : false;
        model.sort = column;
        renderTable(entry);
      });
      head.appendChild(th);
    }
    if (model.actions.length) head.appendChild(el("th", {}, "actions"));
    const thead = el("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    let rows = model.rows.filter((row) => rowMatches(model, row, model.filter));
    if (model.sort) {
      const i = model.columns.indexOf(model.sort);
      rows = rows.slice().sort((a, b) => {
        const x = a[i], y = b[i];
        const order = x === y ? 0 : x === null ? 1 : y === null ? -1 : x < y ? -1 : 1;
        return model.desc ? -order : order;
      });
    }
    const tbody = el("tbody");
    for (const row of rows) {
      const tr = el("tr", { "data-key": rowKey(model, row) });
      for (const column of columns) {
        const value = row[model.columns.indexOf(column)];
        const td = el("td", { "data-column": column });
        const template = model.links[column];
        const href = template ? fillTemplate(template, model, row) : null;
        if (href) td.appendChild(el("a", { href: href }, value));
        else td.textContent = value === null ? "" : String(value);
        if (column === "state" || column === "severity") td.dataset.value = String(value);
        tr.appendChild(td);
      }
      if (model.actions.length) tr.appendChild(actionCell(model, row));
      tbody.appendChild(tr);
    }
    table.appendChild(tbody);
    if (!model.rows.length) {
      const empty = el("tr", { class: "empty" });
      empty.appendChild(el("td", { colspan: String(columns.length + 1) }, "nothing here"));
      tbody.appendChild(empty);
    }
  }

  function rowKey(model, row) {
    return JSON.stringify(model.key.map((k) => row[model.columns.indexOf(k)]));
  }

  function actor() {
    return window.localStorage.getItem("divergence.actor") || "dashboard";
  }

  async function post(url, payload) {
    const response = await fetch(url, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(payload),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      showError(body.error ? body.error.message : "request failed: " + response.status);
    }
    return response.ok;
  }

  function actionCell(model, row) {
    const td = el("td", { class: "actions" });
    const fp = row[model.columns.indexOf("fingerprint")];
    const base = "/api/alerts/" + encodeURIComponent(fp);
    const episode = model.columns.includes("active_at_ns") ? row[model.columns.indexOf("active_at_ns")] : null;
    for (const action of model.actions) {
      if (action === "evidence") {
        const href = base + "/evidence" + (episode ? "?episode=" + encodeURIComponent(episode) : "");
        td.appendChild(el("a", { class: "evidence", href: href, download: "" }, "evidence"));
        continue;
      }
      const button = el("button", { type: "button", class: "action-" + action }, action === "acknowledge" ? "ack" : action);
      button.addEventListener("click", async () => {
        if (action === "acknowledge") {
          await post(base + "/acknowledge", { actor: actor() });
        } else if (action === "assign") {
          const assignee = window.prompt("assign to", actor());
          if (assignee !== null) await post(base + "/assign", { actor: actor(), assignee: assignee });
        } else if (action === "note") {
          const text = window.prompt("note");
          if (text) await post(base + "/notes", { actor: actor(), text: text });
        }
      });
      td.appendChild(button);
    }
    return td;
  }

  function tablePng(entry) {
    const model = state.tables[entry.id];
    const columns = visibleColumns(model);
    const cells = columns.map((c) => model.rows.map((r) => r[model.columns.indexOf(c)]));
    const div = el("div", { style: "position:absolute;left:-10000px;width:1200px" });
    document.body.appendChild(div);
    const figure = [{ type: "table", header: { values: columns }, cells: { values: cells } }];
    const height = Math.min(4000, 80 + 24 * model.rows.length);
    return Plotly.newPlot(div, figure, { width: 1200, height: height, margin: { l: 10, r: 10, t: 10, b: 10 } })
      .then(() => Plotly.downloadImage(div, { format: "png", filename: dashboard + "-" + entry.id, width: 1200, height: height }))
      .finally(() => { Plotly.purge(div); div.remove(); });
  }

  async function downloadPng(entry) {
    if (state.tables[entry.id]) return tablePng(entry);
    state.applying = true; // a title change is not a zoom
    try {
      await Plotly.relayout(entry.div, { "title.text": entry.title || "" });
      await Plotly.downloadImage(entry.div, {
        format: "png", filename: dashboard + "-" + entry.id, width: entry.div.clientWidth || 1200,
        height: entry.div.clientHeight || 400,
      });
    } finally {
      await Plotly.relayout(entry.div, { "title.text": "" });
      state.applying = false;
      for (const message of state.pending.splice(0)) onLiveMessage(message);
    }
  }

  // -- the window and the URL --------------------------------------------------------------
  function showWindow() {
    const box = document.getElementById("window");
    if (!state.window) return;
    const iso = (ns) => new Date(nsToMs(ns)).toISOString().replace(".000Z", "Z");
    box.textContent = iso(state.window.start_ns) + " → " + iso(state.window.end_ns);
    const page = pageParams();
    document.getElementById("reset-window").hidden = !(page.get("start") || page.get("end"));
  }

  function onZoom(entry, event) {
    if (state.applying) return;
    let start = null, end = null;
    if (event["xaxis.range[0]"] !== undefined) {
      start = event["xaxis.range[0]"]; end = event["xaxis.range[1]"];
    } else if (Array.isArray(event["xaxis.range"])) {
      [start, end] = event["xaxis.range"];
    } else if (event["xaxis.autorange"]) {
      navigate({ start: null, end: null });
      return;
    } else {
      return;
    }
    const toMs = (v) => (typeof v === "number" ? v : Date.parse(String(v).replace(" ", "T") + (String(v).endsWith("Z") ? "" : "Z")));
    navigate({ start: msToNs(toMs(start)), end: msToNs(toMs(end)) });
  }

  function navigate(changes) {
    const page = pageParams();
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) page.delete(key); else page.set(key, value);
    }
    const search = page.toString();
    history.pushState(null, "", window.location.pathname + (search ? "?" + search : ""));
    reload();
  }

  async function reload() {
    state.applying = true;
    try {
      await load();
    } catch (error) {
      showError("cannot draw the charts: " + error);
    } finally {
      state.applying = false;
    }
    syncLive();
  }

  window.addEventListener("popstate", reload);
  document.getElementById("reset-window").addEventListener("click", () => navigate({ start: null, end: null }));

  for (const [id, key] of [["underlying-picker", "underlying"], ["venue-picker", "venue"]]) {
    const picker = document.getElementById(id);
    if (!picker) continue;
    picker.addEventListener("change", (event) => {
      const page = pageParams();
      if (event.target.value) page.set(key, event.target.value); else page.delete(key);
      window.location.search = page.toString();
    });
  }

  // -- live ---------------------------------------------------------------------------------
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
    const venue = pageParams().get("venue");
    for (const name of Object.keys(series)) {
      if (venue && name !== venue && name !== "reference") continue;
      let index = div.data.findIndex((trace) => trace.name === name);
      if (index < 0) {
        Plotly.addTraces(div, newTrace(name));
        index = div.data.length - 1;
      }
      const fresh = newerPoints(div.data[index], series[name]);
      if (fresh.x.length === 0) continue;
      indices.push(index); xs.push(fresh.x); ys.push(fresh.y);
    }
    if (indices.length) {
      Plotly.extendTraces(div, { x: xs, y: ys }, indices, MAX_POINTS_PER_TRACE);
      bump(panel.id);
    }
  }

  // Grow the current session's band with the live data, or open a new one on a change.
  function extendShading(panel, previous, status) {
    const shapes = (panel.div.layout.shapes || []).map((s) => Object.assign({}, s));
    const sessions = shapes.filter((s) => !String(s.name || "").startsWith("marker:"));
    const last = sessions[sessions.length - 1];
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

  function applyRows(message) {
    const model = state.tables[message.panel];
    if (!model) return;
    if (message.columns.join() !== model.columns.join()) {
      model.columns = message.columns;
      model.rows = [];
    }
    const index = new Map(model.rows.map((row, i) => [rowKey(model, row), i]));
    const gone = new Set(message.delete.map((key) => JSON.stringify(key)));
    for (const row of message.upsert) {
      const key = rowKey(model, row);
      if (index.has(key)) model.rows[index.get(key)] = row;
      else { index.set(key, model.rows.length); model.rows.push(row); }
    }
    model.rows = model.rows.filter((row) => !gone.has(rowKey(model, row)));
    renderTable(state.byId[message.panel]);
    bump(message.panel);
    state.applied += 1;
  }

  function applyCells(message) {
    const entry = state.byId[message.panel];
    if (!entry || !entry.div.data || !entry.div.data.length) return;
    const trace = entry.div.data[0];
    const x = (trace.x || []).slice(), y = (trace.y || []).slice();
    const z = (trace.z || []).map((r) => r.slice()), text = (trace.text || []).map((r) => r.slice());
    for (const cell of message.cells) {
      let i = y.indexOf(cell.row), j = x.indexOf(cell.column);
      if (i < 0) { y.push(cell.row); z.push(x.map(() => null)); text.push(x.map(() => "")); i = y.length - 1; }
      if (j < 0) { x.push(cell.column); z.forEach((r) => r.push(null)); text.forEach((r) => r.push("")); j = x.length - 1; }
      z[i][j] = cell.value;
      text[i][j] = cell.text;
    }
    Plotly.restyle(entry.div, { x: [x], y: [y], z: [z], text: [text] }, [0]);
    bump(message.panel);
    state.applied += 1;
  }

  function applyFigure(message) {
    const entry = state.byId[message.panel];
    if (!entry) return;
    Plotly.react(entry.div, message.data, entry.div.layout);
    bump(message.panel);
    state.applied += 1;
  }

  function onLiveMessage(message) {
    if (message.type === "error") showError(message.error.message);
    else if (message.type === "hello") { if (!state.status && message.status) setStatus(message.status); }
    else if (message.type === "delta") applyDelta(message);
    else if (message.type === "rows") applyRows(message);
    else if (message.type === "cells") applyCells(message);
    else if (message.type === "figure") applyFigure(message);
  }

  function onMessage(event) {
    const message = JSON.parse(event.data);
    if (state.ready && !state.applying) onLiveMessage(message); else state.pending.push(message);
  }

  function openSocket(path, attempt) {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(scheme + "://" + window.location.host + path);
    socket.attempt = attempt || 0;
    state.sockets.push(socket);
    socket.onopen = () => { socket.attempt = 0; setLive("open"); };
    socket.onmessage = onMessage;
    socket.onclose = (event) => {
      state.sockets = state.sockets.filter((s) => s !== socket);
      if (socket.closedByPage) return;
      setLive("closed");
      if (event.code === 4404) return;
      // capped exponential backoff with jitter
      const delay = Math.min(30000, 500 * 2 ** socket.attempt) * (0.5 + Math.random() / 2);
      window.setTimeout(() => { if (!pageParams().get("end")) openSocket(path, socket.attempt + 1); }, delay);
    };
  }

  function syncLive() {
    const historic = Boolean(pageParams().get("end"));
    if (historic) {
      for (const socket of state.sockets) { socket.closedByPage = true; socket.close(); }
      state.sockets = [];
      setLive("off");
      return;
    }
    if (state.sockets.length) return;
    let opened = false;
    if (scope === "underlying" && state.panels.some((p) => p.live)) {
      openSocket("/ws/live?underlying=" + encodeURIComponent(underlying));
      opened = true;
    }
    const query = new URLSearchParams();
    if (underlying) query.set("underlying", underlying);
    const page = pageParams();
    for (const key of ["venue", "start"]) if (page.get(key)) query.set(key, page.get(key));
    if (state.livePanels) {
      openSocket("/ws/panels/" + encodeURIComponent(dashboard) + "?" + query);
      opened = true;
    }
    if (!opened) setLive("off");
  }

  async function start() {
    try {
      await load();
    } catch (error) {
      showError("cannot draw the charts: " + error);
      return;
    }
    syncLive();
  }

  start();
})();
