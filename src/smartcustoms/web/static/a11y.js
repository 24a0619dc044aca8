/* Accessibility helpers every page loads (base.html):
   - required markers: controls with `required`, or named in their form's data-required (from the schema the server
     checks: web/forms.py; "items[*].x" matches every row), get aria-required and a "*" beside their label, and the
     form a note saying what "*" means;
   - an error summary at the top of a form whose fields show errors ([data-error-for] spans), linking to each field:
     following a link moves the focus into that field; the summary is focused when the page loads with errors;
   - wide tables get a keyboard-focusable scrolling region (the table scrolls inside its card, not the page).
   Texts come in the page's language from this script tag's data-* attributes. */
(function () {
  "use strict";
  var me = document.currentScript;
  var text = {
    required: (me && me.dataset.required) || "required",
    note: (me && me.dataset.requiredNote) || "Fields marked * are required.",
    summary: (me && me.dataset.summary) || "There is a problem",
    table: (me && me.dataset.table) || "table"
  };
  var CONTROLS = "input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea";

  function pattern(names) {
    return names.split(/\s+/).filter(Boolean).map(function (n) {
      var re = n.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\\\[\*\\\]/g, "\\[\\d+\\]");
      return new RegExp("^" + re + "$");
    });
  }

  function labelOf(control) {
    if (control.labels && control.labels.length) { return control.labels[0]; }
    var fs = control.closest("fieldset");
    return fs ? fs.querySelector("legend") : null;
  }

  function labelText(control) {
    var label = labelOf(control);
    if (!label) { return control.getAttribute("aria-label") || control.name; }
    var copy = label.cloneNode(true);
    copy.querySelectorAll("input, select, textarea, button, .error, .hint, .req, datalist, [data-hint-for]")
      .forEach(function (n) { n.remove(); });
    return copy.textContent.replace(/\s+/g, " ").trim() || control.name;
  }

  function mark(control) {
    if (control.type === "radio" || control.type === "checkbox") {
      var group = control.closest("fieldset");
      var legend = group && group.querySelector("legend");
      if (legend && !legend.querySelector(".req")) { legend.appendChild(marker()); }
      return;
    }
    control.setAttribute("aria-required", "true");
    var label = labelOf(control);
    if (!label || label.querySelector(".req")) { return; }
    // after the label's words (kept on their line: the words and the marker go into one span), before the control
    var child = control;
    while (child.parentNode && child.parentNode !== label) { child = child.parentNode; }
    if (child.parentNode !== label) { label.appendChild(marker()); return; }
    var words = label.querySelector(":scope > .label-text");
    if (!words) {
      words = document.createElement("span");
      words.className = "label-text";
      var before = [];
      for (var n = label.firstChild; n && n !== child; n = n.nextSibling) { before.push(n); }
      before.forEach(function (n) { words.appendChild(n); });
      label.insertBefore(words, child);
    }
    words.appendChild(marker());
  }

  function marker() {
    var m = document.createElement("abbr");
    m.className = "req";
    m.title = text.required;
    m.setAttribute("aria-hidden", "true");
    m.textContent = "*";
    return m;
  }

  function markRequired(form) {
    var wanted = pattern(form.dataset.required || "");
    var any = false;
    form.querySelectorAll(CONTROLS).forEach(function (c) {
      if (c.required || wanted.some(function (re) { return re.test(c.name || ""); })) { mark(c); any = true; }
    });
    if (any && !form.querySelector(".required-note")) {
      var note = document.createElement("p");
      note.className = "hint required-note";
      note.textContent = text.note;
      form.insertBefore(note, form.firstElementChild && form.firstElementChild.name === "csrf"
        ? form.firstElementChild.nextSibling : form.firstChild);
    }
  }

  function visible(c) { return c.offsetParent !== null || c.getClientRects().length > 0; }

  /* The field an error is about: its own name, else the first of its rows ("criteria" -> "criteria[0].field"),
     else the control in the same label; null when none can take the focus (the error is listed without a link). */
  function controlFor(form, name) {
    var controls = Array.prototype.filter.call(form.querySelectorAll(CONTROLS), visible);
    var found = controls.filter(function (c) { return c.name === name; })[0] ||
      controls.filter(function (c) { return c.name && (c.name.indexOf(name + "[") === 0 || c.name.indexOf(name + ".") === 0); })[0];
    if (found) { return found; }
    var span = form.querySelector('[data-error-for="' + CSS.escape(name) + '"]');
    var label = span && span.closest("label");
    var inLabel = label && label.querySelector(CONTROLS);
    return inLabel && visible(inLabel) ? inLabel : null;
  }

  function ensureId(control) {
    if (!control.id) { control.id = "f-" + control.name.replace(/[^A-Za-z0-9_-]/g, "-"); }
    return control.id;
  }

  /* (Re)builds the form's error summary from its error spans; returns it, or null when there are no errors. */
  function summarise(form, focus) {
    var items = [];
    form.querySelectorAll("[data-error-for]").forEach(function (span) {
      var message = span.textContent.trim();
      if (!message) { return; }
      var control = controlFor(form, span.dataset.errorFor);
      if (control) { control.setAttribute("aria-invalid", "true"); }
      items.push({control: control, message: message});
    });
    var box = form.querySelector(":scope > .error-summary");
    if (!items.length) { if (box) { box.remove(); } return null; }
    if (!box) {
      box = document.createElement("div");
      box.className = "error-summary";
      box.setAttribute("role", "alert");
      box.setAttribute("tabindex", "-1");
      box.dataset.testid = "form-errors";
      form.insertBefore(box, form.firstChild);
    }
    box.textContent = "";
    var h = document.createElement("h2");
    h.textContent = text.summary;
    var list = document.createElement("ul");
    items.forEach(function (it) {
      var li = document.createElement("li");
      if (it.control) {
        var a = document.createElement("a");
        a.href = "#" + ensureId(it.control);
        a.textContent = labelText(it.control) + ": " + it.message;
        a.addEventListener("click", function (ev) {
          ev.preventDefault();
          it.control.scrollIntoView({block: "center"});
          it.control.focus();
        });
        li.appendChild(a);
      } else {
        li.textContent = it.message;
      }
      list.appendChild(li);
    });
    box.appendChild(h);
    box.appendChild(list);
    if (focus) { box.focus(); }
    return box;
  }

  function watchErrors(form) {
    var pending = null;
    new MutationObserver(function (records) {
      var outside = records.some(function (r) {
        var node = r.target.nodeType === 1 ? r.target : r.target.parentElement;
        return !(node && node.closest(".error-summary, .required-note, .req"));
      });
      if (!outside) { return; }  // the summary's own rebuilding
      clearTimeout(pending);
      pending = setTimeout(function () {
        // follow the live checks once a summary is shown (after a submit): never steal the focus while typing
        if (form.querySelector(":scope > .error-summary")) { summarise(form, false); }
      }, 50);
    }).observe(form, {subtree: true, childList: true, characterData: true});
    form.addEventListener("submit", function (ev) {
      // a form whose own script stopped the submit (client checks failed): show what to fix
      setTimeout(function () { if (ev.defaultPrevented) { summarise(form, true); } }, 0);
    });
  }

  function scrollableTables() {
    document.querySelectorAll("table.data").forEach(function (table) {
      var wrap = table.parentElement;
      if (!wrap.classList.contains("table-wrap") && !wrap.classList.contains("table-scroll")) {
        wrap = document.createElement("div");
        wrap.className = "table-scroll";
        table.parentNode.insertBefore(wrap, table);
        wrap.appendChild(table);
      }
      if (wrap.scrollWidth > wrap.clientWidth + 1 && !wrap.hasAttribute("tabindex")) {
        wrap.setAttribute("tabindex", "0");  // a scrolling region the keyboard can scroll
        wrap.setAttribute("role", "region");
        var card = wrap.closest("section, .card");
        var heading = card && card.querySelector("h1, h2, h3");
        wrap.setAttribute("aria-label", heading ? heading.textContent.trim() : text.table);
      }
    });
  }

  var first = null;
  document.querySelectorAll("main form").forEach(function (form) {
    markRequired(form);
    new MutationObserver(function () { markRequired(form); }).observe(form, {childList: true, subtree: true});
    var box = summarise(form, false);
    if (box && !first) { first = box; }
    watchErrors(form);
  });
  if (first) { first.focus(); }
  scrollableTables();
  window.smartcustomsA11y = {summarise: summarise};
})();
