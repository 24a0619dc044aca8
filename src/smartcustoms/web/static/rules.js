// The rule editor: add a condition row (any number, up to the 20 a rule takes) and search the field list.
// Without JavaScript the form still works: the page always has one empty condition row more.
(function () {
  "use strict";
  var MAX = 20;
  var box = document.getElementById("criteria");
  var add = document.getElementById("add-condition");
  if (box && add) {
    add.hidden = false;
    add.addEventListener("click", function () {
      var rows = box.querySelectorAll(".criterion");
      if (!rows.length || rows.length >= MAX) { return; }
      var i = rows.length;
      var row = rows[rows.length - 1].cloneNode(true);
      row.querySelectorAll("[name]").forEach(function (el) {
        el.name = el.name.replace(/^criteria\[\d+\]/, "criteria[" + i + "]");
        if (el.tagName === "SELECT") { el.selectedIndex = 0; } else { el.value = ""; }
      });
      row.querySelectorAll("[data-error-for]").forEach(function (el) {
        el.setAttribute("data-error-for", el.getAttribute("data-error-for").replace(/^criteria\[\d+\]/, "criteria[" + i + "]"));
        el.textContent = "";
      });
      box.appendChild(row);
      if (rows.length + 1 >= MAX) { add.disabled = true; }
      var first = row.querySelector("select");
      if (first) { first.focus(); }
    });
  }
  var search = document.getElementById("field-search");
  if (search) {
    search.addEventListener("input", function () {
      var q = search.value.trim().toLowerCase();
      document.querySelectorAll("[data-testid=field-list] tbody tr").forEach(function (tr) {
        tr.hidden = q !== "" && tr.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  }
})();
