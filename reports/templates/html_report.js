/* hygie report: filter, sort and paginate the tables that are already in the page.
   No data is embedded and nothing is fetched: the script only reads the DOM, and the page
   reads the same without it (server-side order, <details> drill-downs). */
(function () {
  "use strict";
  var doc = document, root = doc.documentElement;  /* class "js": set by the head script */

  function Table(el) {
    this.el = el;
    this.body = el.tBodies[0];
    this.rows = Array.prototype.slice.call(this.body.rows);
    this.texts = null;
    this.size = parseInt(el.getAttribute("data-page-size") || "0", 10);
    this.page = 0;
    this.query = "";
    this.state = "";
    this.pager = doc.querySelector('[data-pager="' + el.id + '"]');
    this.count = doc.querySelector('[data-count="' + el.id + '"]');
    var self = this;
    Array.prototype.forEach.call(el.tHead.rows[0].cells, function (th, index) {
      if (!th.hasAttribute("data-sort")) return;
      th.tabIndex = 0;
      th.addEventListener("click", function () { self.sort(th, index); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); self.sort(th, index); }
      });
    });
    if (this.pager) {
      Array.prototype.forEach.call(this.pager.querySelectorAll("[data-step]"), function (b) {
        b.addEventListener("click", function () {
          self.page += parseInt(b.getAttribute("data-step"), 10);
          self.paginate();
        });
      });
    }
    this.update();
  }

  /* A row's text, with the shared list it links to (so a check id finds its hosts). */
  function rowText(row) {
    var d = row.querySelector("details[data-g]"), list = d && doc.getElementById(d.getAttribute("data-g"));
    return (list ? row.textContent + " " + sharedText(list) : row.textContent).toLowerCase();
  }
  var shared = {};
  function sharedText(list) {
    return shared[list.id] || (shared[list.id] = list.querySelector("ul").textContent);
  }

  Table.prototype.index = function () {
    if (!this.texts) this.texts = this.rows.map(rowText);
    return this.texts;
  };

  Table.prototype.matching = function () {
    var q = this.query, state = this.state, texts = q ? this.index() : null;
    return this.rows.filter(function (row, i) {
      return (!state || row.getAttribute("data-state") === state) &&
        (!q || texts[i].indexOf(q) !== -1);
    });
  };

  Table.prototype.update = function () {
    var shown = this.matching(), keep = new Set(shown);
    this.rows.forEach(function (row) { row.classList.toggle("f-off", !keep.has(row)); });
    this.shown = shown;
    if (this.count) this.count.textContent = shown.length + " / " + this.rows.length;
    this.paginate();
  };

  Table.prototype.paginate = function () {
    var size = this.size, shown = this.shown;
    if (!size) return;
    var pages = Math.max(1, Math.ceil(shown.length / size));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    var first = this.page * size, last = first + size;
    this.rows.forEach(function (row) { row.classList.remove("pg-off"); });
    shown.forEach(function (row, i) { row.classList.toggle("pg-off", i < first || i >= last); });
    if (this.pager) {
      var label = this.el.getAttribute("data-page-label") || "{page} / {pages}";
      this.pager.querySelector("output").textContent =
        label.replace("{page}", this.page + 1).replace("{pages}", pages);
      var buttons = this.pager.querySelectorAll("[data-step]");
      buttons[0].disabled = this.page === 0;
      buttons[1].disabled = this.page >= pages - 1;
    }
  };

  function sortKey(cell, numeric) {
    var v = cell.getAttribute("data-v");
    if (v === null) {
      var badge = cell.querySelector("[data-v]");
      v = badge ? badge.getAttribute("data-v") : cell.textContent.trim();
    }
    if (!numeric) return v.toLowerCase();
    var n = parseFloat(v.replace(/[\s\u202f,]/g, ""));
    return isNaN(n) ? -Infinity : n;
  }

  Table.prototype.sort = function (th, index) {
    var numeric = th.getAttribute("data-sort") === "num";
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(th.parentNode.cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var keyed = this.rows.map(function (row, i) {
      return { row: row, key: sortKey(row.cells[index], numeric), text: this.texts && this.texts[i] };
    }, this);
    keyed.sort(function (a, b) {
      var d = numeric ? a.key - b.key : a.key.localeCompare(b.key, undefined, { numeric: true });
      return ascending ? d : -d;
    });
    var fragment = doc.createDocumentFragment();
    keyed.forEach(function (k) { fragment.appendChild(k.row); });
    this.body.appendChild(fragment);
    this.rows = keyed.map(function (k) { return k.row; });
    if (this.texts) this.texts = keyed.map(function (k) { return k.text; });
    this.page = 0;
    this.update();
  };

  var tables = {};
  Array.prototype.forEach.call(doc.querySelectorAll("table[data-table]"), function (el) {
    tables[el.id] = new Table(el);
  });

  function debounce(fn, ms) {
    var timer;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  Array.prototype.forEach.call(doc.querySelectorAll("[data-filter]"), function (input) {
    var table = tables[input.getAttribute("data-filter")];
    if (!table) return;
    input.addEventListener("input", debounce(function () {
      table.query = input.value.trim().toLowerCase();
      table.page = 0;
      table.update();
    }, table.rows.length > 500 ? 150 : 0));
  });
  Array.prototype.forEach.call(doc.querySelectorAll("[data-filter-state]"), function (select) {
    var table = tables[select.getAttribute("data-filter-state")];
    if (!table) return;
    select.addEventListener("change", function () {
      table.state = select.value;
      table.page = 0;
      table.update();
    });
  });

  /* A link to a host on another page, or inside closed <details>: show it first. */
  function reveal(id) {
    var target = id && doc.getElementById(id);
    if (!target) return;
    var row = target.closest("tr");
    var table = row && row.closest("table[data-table]");
    var t = table && tables[table.id];
    if (t && row.parentNode === t.body) {
      if (row.classList.contains("f-off")) {
        t.query = ""; t.state = "";
        Array.prototype.forEach.call(doc.querySelectorAll('[data-filter="' + table.id + '"], [data-filter-state="' + table.id + '"]'),
          function (c) { c.value = ""; });
        t.update();
      }
      if (t.size) {
        t.page = Math.floor(t.shown.indexOf(row) / t.size);
        t.paginate();
      }
    }
    for (var el = target; el; el = el.parentElement) {
      if (el.tagName === "DETAILS") el.open = true;
    }
    target.scrollIntoView();
  }
  function fromHash() { reveal(decodeURIComponent(location.hash.slice(1))); }
  window.addEventListener("hashchange", fromHash);
  doc.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest('a[href^="#"]');
    if (a && a.getAttribute("href") === location.hash) reveal(location.hash.slice(1));
  });
  if (location.hash) fromHash();

  /* A host row linking to a shared list gets a copy of it when opened. */
  doc.addEventListener("toggle", function (e) {
    var d = e.target, id = d.open && d.getAttribute("data-g");
    if (!id || d.querySelector("ul")) return;
    d.appendChild(doc.getElementById(id).querySelector("ul").cloneNode(true));
  }, true);

  /* Print: every drill-down expanded, controls hidden (CSS); restored afterwards. */
  var opened = [];
  window.addEventListener("beforeprint", function () {
    opened = Array.prototype.filter.call(doc.querySelectorAll("details:not([open])"), function (d) {
      d.open = true;
      return true;
    });
  });
  window.addEventListener("afterprint", function () {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
  });
  Array.prototype.forEach.call(doc.querySelectorAll('[data-action="print"]'), function (b) {
    b.addEventListener("click", function () { window.print(); });
  });

  /* The text the filters search is read once, when the browser is idle, so that the
     first keystroke in a 5,000-row table does not pay for it. */
  var idle = window.requestIdleCallback || function (f) { return setTimeout(f, 50); };
  idle(function () { Object.keys(tables).forEach(function (id) { tables[id].index(); }); });

  root.setAttribute("data-ready", "1");
  if (window.performance && performance.mark) performance.mark("hygie-ready");
})();
