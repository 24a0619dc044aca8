/* The scan viewer of the image review page (templates/image_review.html), plain JS, no library:
   - the two energies of a dual-energy scan, one shown at a time (radio buttons);
   - zoom (buttons, the mouse wheel, + and - keys) and pan (dragging, the arrow keys) as a CSS transform;
   - contrast and brightness (sliders) as a CSS filter on the scan, not on the heat map;
   - the heat map of the suspect region over the scan (checkbox) with its opacity (slider);
   - threat regions for the decision form: with "Mark a region" pressed, a drag on the scan draws a box and fills
     a row of the form's numeric x/y/w/h fields (image pixels); typing in those fields moves the box (the
     keyboard way), rows are added and removed with buttons; shown (and sent) with a threat decision only. The
     regions stored with the latest review are outlined too.
   Every control is a native button, radio, checkbox or range input, so the keyboard works them all; the image
   area itself is focusable (arrow keys pan, + and - zoom, 0 resets). The current zoom is read out in an
   output element (aria-live). Styles are set through the CSSOM (the pages' CSP refuses inline style attributes). */
(function () {
  "use strict";
  var root = document.getElementById("scan-viewer");
  if (!root) { return; }
  var frame = root.querySelector("[data-role=frame]");
  var stage = root.querySelector("[data-role=stage]");
  var heat = root.querySelector("[data-role=heatmap]");
  var zoomOut = root.querySelector("[data-role=zoom-level]");
  var region = root.querySelector("[data-role=region]");
  function place(el, fractions) {  // an outline placed in fractions of the image
    ["top", "left", "height", "width"].forEach(function (k) {
      el.style[k] = (Number(fractions[k]) * 100).toFixed(3) + "%";
    });
  }
  if (region) { place(region, region.dataset); }  // the suspect region's outline (shown with the heat map)
  root.querySelectorAll("[data-role=stored-mark]").forEach(function (m) { place(m, m.dataset); });
  var MIN = 1, MAX = 16, STEP = 1.25, PAN = 40;
  var state = {zoom: 1, x: 0, y: 0, contrast: 100, brightness: 100, heat: false, opacity: 50};

  function scans() { return root.querySelectorAll("[data-role=scan]"); }

  function clampPan() {
    // keep the image in the frame: at zoom z the stage may move by up to (z - 1) times the frame's size
    var w = frame.clientWidth, h = frame.clientHeight;
    var maxX = (state.zoom - 1) * w, maxY = (state.zoom - 1) * h;
    state.x = Math.min(0, Math.max(-maxX, state.x));
    state.y = Math.min(0, Math.max(-maxY, state.y));
  }

  function draw() {
    clampPan();
    stage.style.transform = "translate(" + state.x + "px, " + state.y + "px) scale(" + state.zoom + ")";
    var filter = "contrast(" + state.contrast + "%) brightness(" + state.brightness + "%)";
    scans().forEach(function (img) { img.style.filter = filter; });
    if (heat) {
      heat.hidden = !state.heat;
      heat.style.opacity = String(state.opacity / 100);
    }
    if (region) { region.hidden = !state.heat; }
    root.dataset.zoom = state.zoom.toFixed(2);
    if (zoomOut) { zoomOut.value = Math.round(state.zoom * 100) + "%"; zoomOut.textContent = zoomOut.value; }
  }

  function zoomTo(z, cx, cy) {
    // zoom about the point (cx, cy) of the frame (its centre by default): that point stays where it is
    var next = Math.min(MAX, Math.max(MIN, z));
    if (cx === undefined) { cx = frame.clientWidth / 2; cy = frame.clientHeight / 2; }
    var k = next / state.zoom;
    state.x = cx - (cx - state.x) * k;
    state.y = cy - (cy - state.y) * k;
    state.zoom = next;
    draw();
  }

  function reset() { state.zoom = 1; state.x = 0; state.y = 0; draw(); }

  root.querySelectorAll("[data-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      var a = button.dataset.action;
      if (a === "zoom-in") { zoomTo(state.zoom * STEP); }
      else if (a === "zoom-out") { zoomTo(state.zoom / STEP); }
      else if (a === "reset") { reset(); }
    });
  });

  root.querySelectorAll("input[name=energy]").forEach(function (radio) {
    radio.addEventListener("change", function () {
      scans().forEach(function (img) { img.hidden = img.dataset.energy !== radio.value; });
      root.dataset.energy = radio.value;
    });
  });

  function slider(name, key) {
    var input = root.querySelector("input[name=" + name + "]");
    if (!input) { return; }
    var shown = root.querySelector("[data-value-for=" + name + "]");
    function read() {
      state[key] = Number(input.value);
      if (shown) { shown.textContent = input.value + "%"; }
      draw();
    }
    input.addEventListener("input", read);
    read();
  }
  slider("contrast", "contrast");
  slider("brightness", "brightness");
  slider("opacity", "opacity");

  var toggle = root.querySelector("input[name=heatmap]");
  if (toggle) {
    toggle.addEventListener("change", function () { state.heat = toggle.checked; draw(); });
    state.heat = toggle.checked;
  }

  frame.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var box = frame.getBoundingClientRect();
    zoomTo(ev.deltaY < 0 ? state.zoom * STEP : state.zoom / STEP, ev.clientX - box.left, ev.clientY - box.top);
  }, {passive: false});

  // -- threat regions (the decision form's mark rows) ------------------------------------------------------
  var marks = document.querySelector("[data-role=marks]");
  var markButton = root.querySelector("[data-action=mark-mode]");
  var marking = false, sketch = null;
  var W = marks ? Number(marks.dataset.width) : 1, H = marks ? Number(marks.dataset.height) : 1;

  function rows() { return marks ? Array.prototype.slice.call(marks.querySelectorAll("[data-role=mark-row]")) : []; }
  function field(row, name) { return row.querySelector("[name=" + name + "]"); }
  function rowBox(row) {
    var v = ["mark_x", "mark_y", "mark_w", "mark_h"].map(function (n) { return field(row, n).value; });
    if (v.some(function (x) { return x === "" || isNaN(Number(x)); })) { return null; }
    return {left: Number(v[0]), top: Number(v[1]), width: Number(v[2]), height: Number(v[3])};
  }
  function outline(row) {  // the box on the scan of one row (made on first use)
    if (!row.markBox) {
      row.markBox = document.createElement("div");
      row.markBox.className = "scan-mark";
      row.markBox.dataset.testid = "mark-box";
      stage.appendChild(row.markBox);
    }
    return row.markBox;
  }
  function drawRow(row) {
    var b = rowBox(row), box = outline(row);
    box.hidden = !b || b.width < 1 || b.height < 1;
    if (!box.hidden) { place(box, {left: b.left / W, top: b.top / H, width: b.width / W, height: b.height / H}); }
  }
  function renumber() {
    var all = rows();
    all.forEach(function (row, i) {
      row.dataset.n = String(i + 1);
      var remove = row.querySelector("[data-action=remove-mark]");
      if (remove) { remove.disabled = all.length === 1 && !rowBox(row); }
    });
    var add = marks && marks.querySelector("[data-action=add-mark]");
    if (add) { add.disabled = all.length >= Number(marks.dataset.max); }
  }
  function wire(row) {
    row.querySelectorAll("input").forEach(function (input) {
      input.addEventListener("input", function () { drawRow(row); renumber(); });
    });
    var remove = row.querySelector("[data-action=remove-mark]");
    if (remove) {
      remove.addEventListener("click", function () {
        if (rows().length > 1) {
          if (row.markBox) { row.markBox.remove(); }
          row.remove();
        } else {  // the last row is emptied, not removed
          row.querySelectorAll("input").forEach(function (i) { i.value = ""; });
          row.querySelector("select").value = "";
          drawRow(row);
        }
        renumber();
      });
    }
    drawRow(row);
  }
  function addRow() {  // a copy of the first row, emptied; null when the form holds the most regions already
    var all = rows();
    if (!all.length || all.length >= Number(marks.dataset.max)) { return null; }
    var row = all[0].cloneNode(true);
    delete row.markBox;
    row.querySelectorAll("input").forEach(function (i) { i.value = ""; });
    row.querySelector("select").value = "";
    all[all.length - 1].after(row);
    wire(row);
    renumber();
    return row;
  }
  function freeRow() {  // the first row with no region yet, else a new one
    var empty = rows().filter(function (r) { return !rowBox(r); });
    return empty.length ? empty[0] : addRow();
  }
  if (marks) {
    rows().forEach(wire);
    var add = marks.querySelector("[data-action=add-mark]");
    if (add) { add.addEventListener("click", function () { var r = addRow(); if (r) { field(r, "mark_category").focus(); } }); }
    renumber();
  }
  if (markButton) {
    markButton.addEventListener("click", function () {
      marking = !marking;
      markButton.setAttribute("aria-pressed", marking ? "true" : "false");
      frame.classList.toggle("marking", marking);
    });
  }
  function imagePoint(ev) {  // the pointer in image pixels (the stage's box includes zoom and pan)
    var r = stage.getBoundingClientRect();
    return {x: Math.min(W, Math.max(0, (ev.clientX - r.left) / r.width * W)),
            y: Math.min(H, Math.max(0, (ev.clientY - r.top) / r.height * H))};
  }

  var drag = null;
  frame.addEventListener("pointerdown", function (ev) {
    if (marking && marks) {
      var start = imagePoint(ev);
      sketch = {x: start.x, y: start.y, box: document.createElement("div")};
      sketch.box.className = "scan-mark sketch";
      stage.appendChild(sketch.box);
    } else {
      drag = {x: ev.clientX - state.x, y: ev.clientY - state.y};
    }
    frame.setPointerCapture(ev.pointerId);
  });
  function sketchBox(ev) {
    var p = imagePoint(ev);
    var left = Math.floor(Math.min(p.x, sketch.x)), top = Math.floor(Math.min(p.y, sketch.y));
    return {left: left, top: top, width: Math.max(1, Math.ceil(Math.max(p.x, sketch.x)) - left),
            height: Math.max(1, Math.ceil(Math.max(p.y, sketch.y)) - top)};
  }
  frame.addEventListener("pointermove", function (ev) {
    if (sketch) {
      var b = sketchBox(ev);
      place(sketch.box, {left: b.left / W, top: b.top / H, width: b.width / W, height: b.height / H});
      return;
    }
    if (!drag) { return; }
    state.x = ev.clientX - drag.x; state.y = ev.clientY - drag.y; draw();
  });
  frame.addEventListener("pointerup", function (ev) {
    if (sketch) {
      var b = sketchBox(ev);
      sketch.box.remove();
      sketch = null;
      var row = b.width > 1 || b.height > 1 ? freeRow() : null;  // a click is not a region
      if (row) {
        field(row, "mark_x").value = b.left; field(row, "mark_y").value = b.top;
        field(row, "mark_w").value = Math.min(b.width, W - b.left); field(row, "mark_h").value = Math.min(b.height, H - b.top);
        drawRow(row); renumber();
        field(row, "mark_category").focus();  // what the threat is comes next
      }
    }
    drag = null;
  });
  frame.addEventListener("pointercancel", function () {
    if (sketch) { sketch.box.remove(); sketch = null; }
    drag = null;
  });

  frame.addEventListener("keydown", function (ev) {
    var moves = {ArrowLeft: [PAN, 0], ArrowRight: [-PAN, 0], ArrowUp: [0, PAN], ArrowDown: [0, -PAN]};
    if (moves[ev.key]) {
      state.x += moves[ev.key][0]; state.y += moves[ev.key][1]; draw();
    } else if (ev.key === "+" || ev.key === "=") {
      zoomTo(state.zoom * STEP);
    } else if (ev.key === "-" || ev.key === "_") {
      zoomTo(state.zoom / STEP);
    } else if (ev.key === "0") {
      reset();
    } else {
      return;
    }
    ev.preventDefault();
  });

  // the decision form: "threat found" asks for a confirmation box; the box is shown only for that choice
  var form = document.getElementById("image-decision");
  if (form) {
    var confirmBox = form.querySelector("[data-role=threat-confirm]");
    var sync = function () {
      var chosen = form.querySelector("input[name=decision]:checked");
      var threat = !!chosen && chosen.dataset.threat === "true";
      if (confirmBox) {
        confirmBox.hidden = !threat;
        var box = confirmBox.querySelector("input[type=checkbox]");
        if (box) { box.required = threat; }
      }
      // threat regions go with a threat decision only: otherwise hidden, and disabled so nothing is sent
      if (marks) {
        marks.hidden = !threat; marks.disabled = !threat;
        rows().forEach(function (r) { if (r.markBox) { r.markBox.classList.toggle("off", !threat); } });
      }
      if (markButton) {
        markButton.disabled = !threat;
        if (!threat && marking) { markButton.click(); }
      }
    };
    form.querySelectorAll("input[name=decision]").forEach(function (r) { r.addEventListener("change", sync); });
    sync();
  }
  draw();
}());
