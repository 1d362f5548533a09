// The sluice dashboard's script: the SQL box and the schema toggles. No framework, no
// download: it ships in the sluice binary with the page.
(function () {
  "use strict";
  var body = document.body;

  function toggle(id, cls, invert) {
    var box = document.getElementById(id);
    if (!box) return;
    var apply = function () { body.classList.toggle(cls, invert ? !box.checked : box.checked); };
    box.addEventListener("change", apply);
    apply();
  }
  toggle("show-dlt", "hide-dlt", true);
  toggle("show-system", "show-system", false);

  var form = document.getElementById("sql-form");
  if (!form || body.dataset.mode !== "live") return;
  var out = document.getElementById("sql-result");
  var button = document.getElementById("run-sql");

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function showError(message) {
    out.replaceChildren(el("pre", message, "error"));
    out.firstChild.id = "sql-error";
  }

  function showGrid(r) {
    var wrap = el("div", null, "grid-wrap");
    var table = el("table", null, "grid");
    table.id = "sql-grid";
    var head = el("tr");
    r.columns.forEach(function (c) { head.appendChild(el("th", c)); });
    var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
    var tbody = el("tbody");
    r.rows.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (cell) {
        tr.appendChild(cell === null ? el("td", "NULL", "null") : el("td", cell));
      });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    wrap.appendChild(table);
    var note = el("p", r.rows.length + " row(s) in " + r.elapsed_ms + " ms" +
      (r.truncated ? " (only the first 1000 are shown)" : ""), "note");
    note.id = "sql-status";
    out.replaceChildren(note, wrap);
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    button.disabled = true;
    out.replaceChildren(el("p", "Running…", "note"));
    fetch("api/query", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sql: document.getElementById("sql").value })
    }).then(function (resp) {
      return resp.json().then(function (r) {
        if (r.error !== undefined) showError(r.error); else showGrid(r);
      });
    }).catch(function (e) {
      showError("The dashboard server did not answer: " + e);
    }).finally(function () { button.disabled = false; });
  });
})();
