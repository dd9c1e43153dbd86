/* The leaderboard site's behaviour, plain JavaScript without any library: sortable tables, row filters, column
   toggles, a suite filter, the top-10 viewer of the dataset pages and copy buttons. Every page is complete HTML
   without it; this only rearranges what is there. */
(function () {
  "use strict";

  // ---------------------------------------------------------------------------------------------- sorting
  function sortValue(cell) {
    var v = cell ? cell.getAttribute("data-value") : null;
    return v === null || v === "" ? null : parseFloat(v);
  }

  function sortBy(table, th) {
    var index = parseInt(th.getAttribute("data-sort-index"), 10);
    var numeric = th.getAttribute("data-type") !== "text";
    var current = th.getAttribute("aria-sort");
    var first = th.getAttribute("data-order") || (numeric ? "descending" : "ascending");
    var dir = current ? (current === "ascending" ? "descending" : "ascending") : first;
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (r, i) { return [r, i]; });
    rows.sort(function (x, y) {
      var a = x[0].cells[index], b = y[0].cells[index], cmp;
      if (numeric) {
        var va = sortValue(a), vb = sortValue(b);
        if (va === null || vb === null) {  // empty cells last in both directions
          return va === vb ? x[1] - y[1] : (va === null ? 1 : -1);
        }
        cmp = va - vb;
      } else {
        cmp = a.textContent.trim().localeCompare(b.textContent.trim(), undefined, {numeric: true});
      }
      if (dir === "descending") { cmp = -cmp; }
      return cmp || x[1] - y[1];
    });
    rows.forEach(function (r) { body.appendChild(r[0]); });
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th[data-sort-index]").forEach(function (th) {
      th.tabIndex = 0;
      th.title = th.title || "sort by this column";
      th.addEventListener("click", function (e) {
        if (e.target.closest("a")) { return; }  // a dataset link in the header still navigates
        sortBy(table, th);
      });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th); }
      });
    });
  });

  // -------------------------------------------------------------------------------------------- filtering
  document.querySelectorAll("input[data-filter-rows]").forEach(function (input) {
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      document.querySelectorAll(input.getAttribute("data-filter-rows")).forEach(function (table) {
        Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
          var text = (row.getAttribute("data-filter") || row.textContent).toLowerCase();
          row.hidden = q !== "" && text.indexOf(q) < 0;
        });
      });
    });
  });

  document.querySelectorAll("select[data-suite-filter]").forEach(function (select) {
    select.addEventListener("change", function () {
      document.querySelectorAll("section[data-suite]").forEach(function (s) {
        s.hidden = select.value !== "" && s.getAttribute("data-suite") !== select.value;
      });
    });
  });

  // ------------------------------------------------------------------------------------- column toggles
  function applyColumns(suite) {
    var table = document.getElementById("main-" + suite);
    if (!table) { return; }
    var shown = {};
    document.querySelectorAll('input[data-col-toggle][data-suite="' + suite + '"]').forEach(function (box) {
      var col = box.getAttribute("data-col-toggle");
      shown[col] = box.checked;
      table.querySelectorAll('[data-col="' + col + '"]').forEach(function (el) {
        el.classList.toggle("col-hidden", !box.checked);
      });
    });
    table.querySelectorAll("th[data-group-head]").forEach(function (head) {  // group headers span what is left
      var group = head.getAttribute("data-group-head");
      var n = table.querySelectorAll('thead th[data-col][data-group="' + group + '"]:not(.col-hidden)').length;
      head.colSpan = Math.max(n, 1);
      head.classList.toggle("col-hidden", n === 0);
    });
  }

  document.querySelectorAll("input[data-col-toggle]").forEach(function (box) {
    box.addEventListener("change", function () { applyColumns(box.getAttribute("data-suite")); });
  });
  document.querySelectorAll("input[data-group-toggle]").forEach(function (box) {
    box.addEventListener("change", function () {
      var suite = box.getAttribute("data-group-toggle");
      document.querySelectorAll('input[data-col-toggle][data-suite="' + suite + '"]').forEach(function (c) {
        if (c.getAttribute("data-group") === box.value) { c.checked = box.checked; }
      });
      applyColumns(suite);
    });
  });

  // ------------------------------------------------------------------------------ dataset page: top 10
  var data = window.HARNESS_DATASET;
  var pick = document.getElementById("query-pick");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function showQuery(qid, scroll) {
    if (!data || !(qid in data.queries)) { return; }
    var i = data.qids.indexOf(qid);
    document.getElementById("top-panel").setAttribute("data-qid", qid);
    document.getElementById("top-qid").textContent = qid;
    document.getElementById("top-text").textContent = data.queries[qid];
    var lists = document.getElementById("toplists");
    lists.textContent = "";
    var prefix = data.parts ? qid.split("/")[0] + "/" : "";
    data.systems.forEach(function (s) {
      var box = el("div", "toplist");
      box.setAttribute("data-system", s.name);
      var h = el("h3", "", s.display + " ");
      h.appendChild(el("span", "score", data.metric + " " + data.per_query[s.name][i].toFixed(4)));
      box.appendChild(h);
      var ol = el("ol");
      (data.top[s.name][qid] || []).forEach(function (entry) {  // a document id, or [id, grade] when judged
        var judged = typeof entry !== "string";
        var doc = judged ? entry[0] : entry, grade = judged ? entry[1] : null;
        var li = el("li", grade === null ? "" : (grade > 0 ? "rel" : "judged"));
        li.appendChild(el("code", "", doc));
        if (grade !== null) { li.appendChild(document.createTextNode(" ")); li.appendChild(el("span", "grade", "judged " + grade)); }
        li.appendChild(document.createTextNode(" " + (data.titles[prefix + doc] || "")));
        ol.appendChild(li);
      });
      box.appendChild(ol);
      lists.appendChild(box);
    });
    if (pick) { pick.value = qid; }
    document.querySelectorAll("#per-query tr.selected").forEach(function (r) { r.classList.remove("selected"); });
    var row = document.querySelector('#per-query tr[data-qid="' + CSS.escape(qid) + '"]');
    if (row) { row.classList.add("selected"); }
    if (scroll) { document.getElementById("top10").scrollIntoView(); }
  }

  if (data && pick) {
    pick.addEventListener("change", function () { showQuery(pick.value, false); });
    document.querySelectorAll("#per-query tbody tr").forEach(function (row) {
      row.addEventListener("click", function (e) { e.preventDefault(); showQuery(row.getAttribute("data-qid"), true); });
    });
    document.querySelectorAll("svg.scatter circle[data-qid]").forEach(function (dot) {
      dot.addEventListener("click", function () { showQuery(dot.getAttribute("data-qid"), true); });
    });
  }

  // --------------------------------------------------------------------------------------- copy buttons
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var code = document.getElementById(button.getAttribute("data-copy"));
      var range = document.createRange();
      range.selectNodeContents(code);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      var done = function () { button.textContent = "copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(code.textContent).then(done, function () { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy");
        done();
      }
    });
  });
}());
