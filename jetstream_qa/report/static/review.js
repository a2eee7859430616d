/* jetstream-qa review page script: lazy case table and matrix drill-down.
   Reads the embedded review document; builds DOM with textContent only (no innerHTML). */
(function () {
  "use strict";
  var PAGE = 200;
  var data = JSON.parse(document.getElementById("review-data").textContent);
  var cases = data.conformance ? data.conformance.cases : [];

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function detail(c) {
    var dl = el("dl", "case");
    [["Requirement" + (c.level ? " (" + c.level + ")" : ""), c.requirement],
     ["Source", c.source], ["Expected", c.expected], ["Actual", c.actual],
     ["Expected verdict", c.expectedVerdict], ["Expectation reason", c.expectationReason],
     ["Observed", c.observations ? c.observations.join("\n") : null],
     ["Pre-state", c.matrix ? c.matrix[4] : null]].forEach(function (kv) {
      if (!kv[1]) { return; }
      dl.appendChild(el("dt", null, kv[0]));
      var dd = el("dd");
      var pre = kv[0] === "Expected" || kv[0] === "Actual" || kv[0] === "Observed";
      dd.appendChild(el(pre ? "pre" : "span", null, kv[1]));
      dl.appendChild(dd);
    });
    if (c.calls && c.calls.length) {
      dl.appendChild(el("dt", null, "API calls"));
      var dd = el("dd"), ol = el("ol", "calls");
      c.calls.forEach(function (call) { var li = el("li"); li.appendChild(el("code", null, call)); ol.appendChild(li); });
      dd.appendChild(ol); dl.appendChild(dd);
    }
    return dl;
  }

  function caseRow(c, tbody) {
    var tr = el("tr", "case-row");
    var v = el("td"); v.appendChild(el("span", "v v-" + c.verdict, c.verdict)); tr.appendChild(v);
    var idc = el("td"); idc.appendChild(el("code", null, c.id)); tr.appendChild(idc);
    tr.appendChild(el("td", null, c.area));
    tr.appendChild(el("td", "num", (c.durationS || 0).toFixed(3) + " s"));
    tr.addEventListener("click", function () {
      var next = tr.nextSibling;
      if (next && next.className === "case-detail") { tbody.removeChild(next); return; }
      var dr = el("tr", "case-detail"), td = el("td");
      td.colSpan = 4; td.appendChild(detail(c)); dr.appendChild(td);
      tbody.insertBefore(dr, tr.nextSibling);
    });
    tbody.appendChild(tr);
  }

  /* --- all-cases table: rendered when opened, a page at a time --- */
  var table = document.getElementById("case-table");
  var tbody = table ? table.tBodies[0] : null;
  var verdictSel = document.getElementById("case-verdict");
  var filterIn = document.getElementById("case-filter");
  var moreBtn = document.getElementById("case-more");
  var countEl = document.getElementById("case-count");
  var shown = 0, filtered = [];

  function applyFilter() {
    var v = verdictSel.value, q = filterIn.value.toLowerCase();
    filtered = cases.filter(function (c) {
      if (v === "!PASS") { if (c.verdict === "PASS") { return false; } }
      else if (v && c.verdict !== v) { return false; }
      if (!q) { return true; }
      return (c.id + " " + (c.area || "") + " " + (c.requirement || "") + " " + (c.actual || ""))
        .toLowerCase().indexOf(q) >= 0;
    });
    while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
    shown = 0; page();
  }
  function page() {
    var end = Math.min(filtered.length, shown + PAGE);
    for (var i = shown; i < end; i++) { caseRow(filtered[i], tbody); }
    shown = end;
    moreBtn.hidden = shown >= filtered.length;
    countEl.textContent = shown + " of " + filtered.length + " shown (" + cases.length + " cases)";
  }
  var details = document.getElementById("cases-details");
  if (details && tbody) {
    var started = false;
    details.addEventListener("toggle", function () {
      if (details.open && !started) { started = true; applyFilter(); }
    });
    verdictSel.addEventListener("change", applyFilter);
    filterIn.addEventListener("input", applyFilter);
    moreBtn.addEventListener("click", page);
  }

  /* --- matrix drill-down --- */
  var box = document.getElementById("matrix-detail");
  function showCell(key, title) {
    var parts = key.split("-").map(Number);
    var hits = cases.filter(function (c) {
      var m = c.matrix;
      return m && m[3] === parts[0] && m[0] === parts[1] && m[1] === parts[2] && m[2] === parts[3];
    });
    while (box.firstChild) { box.removeChild(box.firstChild); }
    box.appendChild(el("h3", null, title));
    var t = el("table", "grid-table"), tb = el("tbody");
    hits.forEach(function (c) { caseRow(c, tb); });
    t.appendChild(tb); box.appendChild(t);
    box.hidden = false;
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.matrix td.cell"), function (td) {
    td.addEventListener("click", function () { showCell(td.getAttribute("data-cell"), td.title); });
  });

  document.body.setAttribute("data-ready", "1");
  window.__reviewReadyMs = (window.performance && performance.now) ? performance.now() : 0;
})();
