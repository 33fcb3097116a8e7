// pathtolive web console: progressive enhancement only. Every page works without it.
// - a form with data-confirm asks for confirmation in the page's <dialog> first;
// - a table with data-sortable sorts by a column when its header is clicked;
// - an input with data-filter="TABLE-ID" hides the rows of that table not matching it.
"use strict";
(function () {
  function confirmForms() {
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") { return; }
    var text = document.getElementById("confirm-text");
    var pending = null;
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.dataset.confirmed === "yes") { return; }
        if (!form.reportValidity()) { return; }
        event.preventDefault();
        pending = form;
        text.textContent = form.dataset.confirm;
        dialog.returnValue = "";
        dialog.showModal();
      });
    });
    dialog.addEventListener("close", function () {
      if (dialog.returnValue === "confirm" && pending) {
        pending.dataset.confirmed = "yes";
        if (typeof pending.requestSubmit === "function") { pending.requestSubmit(); } else { pending.submit(); }
      }
      pending = null;
    });
  }

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
    var number = parseFloat(raw.replace(/^@/, ""));
    return isNaN(number) || !/^[@\-+]?[\d.]/.test(raw) ? raw.toLowerCase() : number;
  }

  function sortableTables() {
    document.querySelectorAll("table[data-sortable]").forEach(function (table) {
      var headers = table.tHead ? table.tHead.rows[0].cells : [];
      Array.prototype.forEach.call(headers, function (th, index) {
        var button = document.createElement("button");
        button.type = "button";
        while (th.firstChild) { button.appendChild(th.firstChild); }
        th.appendChild(button);
        th.setAttribute("aria-sort", "none");
        button.addEventListener("click", function () {
          var ascending = th.getAttribute("aria-sort") !== "ascending";
          Array.prototype.forEach.call(headers, function (other) { other.setAttribute("aria-sort", "none"); });
          th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
          var body = table.tBodies[0];
          var rows = Array.prototype.slice.call(body.rows);
          rows.sort(function (a, b) {
            var x = cellValue(a, index), y = cellValue(b, index);
            var order = x < y ? -1 : x > y ? 1 : 0;
            return ascending ? order : -order;
          });
          rows.forEach(function (row) { body.appendChild(row); });
        });
      });
    });
  }

  function filters() {
    document.querySelectorAll("input[data-filter]").forEach(function (input) {
      var table = document.getElementById(input.dataset.filter);
      if (!table) { return; }
      input.addEventListener("input", function () {
        var needle = input.value.trim().toLowerCase();
        Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
          row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) === -1;
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    confirmForms();
    sortableTables();
    filters();
  });
})();
