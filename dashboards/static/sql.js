// The SQL page: POST /api/sql as JSON for the table, as CSV or Parquet for downloads.
"use strict";

(function () {
  const form = document.getElementById("sql-form");
  const sqlBox = document.getElementById("sql");
  const paramsBox = document.getElementById("params");
  const statusEl = document.getElementById("status");
  const errorEl = document.getElementById("error");
  const noteEl = document.getElementById("note");
  const table = document.getElementById("results");

  function request(format) {
    let params = null;
    const text = paramsBox.value.trim();
    if (text) {
      try {
        params = JSON.parse(text);
      } catch (e) {
        throw new Error("params must be a JSON object: " + e.message);
      }
    }
    return fetch("/api/sql", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ sql: sqlBox.value, format: format, params: params }),
    });
  }

  async function failure(response) {
    try {
      const body = await response.json();
      return body.error ? body.error.status + ": " + body.error.message : response.statusText;
    } catch (e) {
      return response.status + " " + response.statusText;
    }
  }

  function showError(message) {
    errorEl.textContent = message;
    errorEl.hidden = !message;
  }

  function cellText(value) {
    if (value === null) return null;
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function render(result) {
    table.replaceChildren();
    const head = table.createTHead().insertRow();
    for (const column of result.columns) {
      const th = document.createElement("th");
      th.textContent = column.name;
      th.title = column.type;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const row of result.rows) {
      const tr = body.insertRow();
      for (const value of row) {
        const td = tr.insertCell();
        const text = cellText(value);
        if (text === null) {
          td.textContent = "NULL";
          td.className = "null";
        } else {
          td.textContent = text;
        }
      }
    }
    let note = result.row_count + " rows in " + result.elapsed_ms + " ms";
    if (result.truncated) note += "; truncated at sql.max_rows = " + result.max_rows;
    noteEl.textContent = note;
    noteEl.dataset.truncated = String(result.truncated);
  }

  async function run(event) {
    if (event) event.preventDefault();
    showError("");
    statusEl.textContent = "running…";
    try {
      const response = await request("json");
      if (!response.ok) {
        showError(await failure(response));
        return;
      }
      render(await response.json());
    } catch (e) {
      showError(e.message);
    } finally {
      statusEl.textContent = "";
    }
  }

  async function download(format) {
    showError("");
    try {
      const response = await request(format);
      if (!response.ok) {
        showError(await failure(response));
        return;
      }
      const blob = await response.blob();
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = "result." + format;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
      if (response.headers.get("X-Divergence-Truncated") === "true") {
        noteEl.textContent = "download truncated at sql.max_rows = " +
          response.headers.get("X-Divergence-Max-Rows");
      }
    } catch (e) {
      showError(e.message);
    }
  }

  form.addEventListener("submit", run);
  sqlBox.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) run(e);
  });
  document.getElementById("download-csv").addEventListener("click", () => download("csv"));
  document.getElementById("download-parquet").addEventListener("click", () => download("parquet"));
})();
