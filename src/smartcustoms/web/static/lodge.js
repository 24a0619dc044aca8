// Lodge form: validate as you type (server checks against the code lists), HS search, item totals.
(function () {
  "use strict";
  const form = document.getElementById("lodge");
  if (!form) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const touched = new Set();
  let timer = null;
  let submitted = form.querySelector(".error:not(:empty)") !== null;

  function errorSpan(name) {
    return form.querySelector('[data-error-for="' + CSS.escape(name) + '"]');
  }

  function show(errors) {
    const byField = {};
    errors.forEach(function (e) { (byField[e.field] = byField[e.field] || []).push(e.message); });
    form.querySelectorAll("[data-error-for]").forEach(function (span) {
      const name = span.dataset.errorFor;
      const visible = submitted || touched.has(name) || (name === "items" && touched.size > 0);
      const messages = visible ? (byField[name] || []) : [];
      span.textContent = messages.join("; ");
      const input = form.elements.namedItem(name);
      if (input && input.setAttribute) input.setAttribute("aria-invalid", messages.length ? "true" : "false");
    });
    const summary = document.getElementById("error-summary");
    summary.hidden = !(submitted && errors.length);
  }

  function validate() {
    const body = new FormData(form);
    fetch("/declarations/validate", {method: "POST", body: body, headers: {"X-CSRF-Token": csrf},
                                     credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        show(data.errors);
        Object.keys(data.hs).forEach(function (name) {
          const hint = form.querySelector('[data-hint-for="' + CSS.escape(name) + '"]');
          if (hint) hint.textContent = data.hs[name] || "";
        });
      })
      .catch(function () { /* offline: the server checks again on submit */ });
  }

  function schedule() { clearTimeout(timer); timer = setTimeout(validate, 250); }

  function recalc() {
    let total = 0, net = 0;
    form.querySelectorAll(".item").forEach(function (row) {
      const i = row.dataset.item;
      const get = function (f) { return form.elements.namedItem("items[" + i + "]." + f); };
      const q = parseFloat(get("quantity").value), p = parseFloat(get("unit_price").value);
      if (!isNaN(q) && !isNaN(p)) get("total_value").value = (Math.round(q * p * 100) / 100).toFixed(2);
      total += parseFloat(get("total_value").value) || 0;
      net += parseFloat(get("net_mass_kg").value) || 0;
    });
    form.elements.namedItem("total_value").value = total ? total.toFixed(2) : "";
    form.elements.namedItem("net_mass_kg").value = net ? String(Math.round(net * 1000) / 1000) : "";
  }

  const hsTimers = {};
  function searchHs(input) {
    const q = input.value.trim();
    const list = document.getElementById(input.getAttribute("list"));
    if (q.length < 2 || !list) return;
    clearTimeout(hsTimers[input.name]);
    hsTimers[input.name] = setTimeout(function () {
      fetch("/api/v1/codes/hs?limit=15&q=" + encodeURIComponent(q), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (rows) {
          list.replaceChildren.apply(list, rows.map(function (row) {
            const o = document.createElement("option");
            o.value = row.code; o.textContent = row.description; return o;
          }));
        })
        .catch(function () {});
    }, 200);
  }

  // A field is checked when the user leaves it (and again as it is corrected, once it has been left).
  form.addEventListener("focusout", function (ev) {
    const el = ev.target;
    if (!el.name || el.type === "hidden") return;
    touched.add(el.name);
    clearTimeout(timer);
    validate();
  });
  form.addEventListener("input", function (ev) {
    const el = ev.target;
    if (!el.name) return;
    if (el.hasAttribute("data-calc")) recalc();
    if (el.hasAttribute("data-hs")) searchHs(el);
    // the HS description shows as the code is typed; errors wait until the field has been left once
    if (touched.has(el.name) || submitted || el.hasAttribute("data-hs")) schedule();
  });
  form.addEventListener("change", function (ev) { if (ev.target.name) { touched.add(ev.target.name); schedule(); } });

  // Item rows are numbered 0..n-1 in page order: names, error and hint targets, HS lists follow the row.
  // ``moved``: the row was there before (its visited fields stay visited under their new names).
  function renumber(row, n, moved) {
    const old = row.dataset.item;
    row.dataset.item = String(n);
    const rename = function (v) { return v.replace(/^items\[\d+\]/, "items[" + n + "]"); };
    row.querySelectorAll("[name]").forEach(function (el) {
      const before = el.name;
      el.name = rename(el.name);
      if (moved && touched.has(before) && before !== el.name) { touched.delete(before); touched.add(el.name); }
    });
    row.querySelectorAll("[data-error-for],[data-hint-for]").forEach(function (el) {
      ["errorFor", "hintFor"].forEach(function (k) { if (el.dataset[k]) el.dataset[k] = rename(el.dataset[k]); });
    });
    row.querySelectorAll("datalist").forEach(function (dl) { dl.id = "hs-" + n; });
    row.querySelectorAll("[data-remove-item]").forEach(function (el) { el.value = String(n); });
    row.querySelectorAll("[data-hs]").forEach(function (el) { el.setAttribute("list", "hs-" + n); });
    return old !== String(n);
  }

  function clearRow(row) {
    row.querySelectorAll("input").forEach(function (el) { el.value = ""; });
    row.querySelectorAll("select").forEach(function (el) {
      const def = el.querySelector("option[selected]") || el.options[0];
      if (def) el.value = def.value;
    });
    row.querySelectorAll("[data-error-for],[data-hint-for]").forEach(function (el) { el.textContent = ""; });
    row.querySelectorAll("datalist").forEach(function (dl) { dl.replaceChildren(); });
  }

  document.getElementById("add-item").addEventListener("click", function () {
    const rows = form.querySelectorAll(".item");
    const last = rows[rows.length - 1];
    const copy = last.cloneNode(true);
    clearRow(copy);
    renumber(copy, rows.length, false);
    last.after(copy);
    const first = copy.querySelector("input[data-hs]");
    if (first) first.focus();
  });

  form.addEventListener("click", function (ev) {
    const button = ev.target.closest("[data-remove-item]");
    if (!button) return;
    ev.preventDefault();
    const row = button.closest(".item");
    const rows = form.querySelectorAll(".item");
    row.querySelectorAll("[name]").forEach(function (el) { touched.delete(el.name); });
    if (rows.length === 1) clearRow(row); else row.remove();
    form.querySelectorAll(".item").forEach(function (r, n) { renumber(r, n, true); });
    recalc();
    validate();
  });

  form.addEventListener("submit", function () { submitted = true; });
  if (submitted) validate();
})();
