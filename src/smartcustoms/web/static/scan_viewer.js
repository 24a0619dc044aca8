/* The scan viewer of the image review page (templates/image_review.html), plain JS, no library:
   - the two energies of a dual-energy scan, one shown at a time (radio buttons);
   - zoom (buttons, the mouse wheel, + and - keys) and pan (dragging, the arrow keys) as a CSS transform;
   - contrast and brightness (sliders) as a CSS filter on the scan, not on the heat map;
   - the heat map of the suspect region over the scan (checkbox) with its opacity (slider).
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
  if (region) {  // the suspect region's outline, placed in fractions of the image (shown with the heat map)
    ["top", "left", "height", "width"].forEach(function (k) {
      region.style[k] = (Number(region.dataset[k]) * 100).toFixed(3) + "%";
    });
  }
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

  var drag = null;
  frame.addEventListener("pointerdown", function (ev) {
    drag = {x: ev.clientX - state.x, y: ev.clientY - state.y};
    frame.setPointerCapture(ev.pointerId);
  });
  frame.addEventListener("pointermove", function (ev) {
    if (!drag) { return; }
    state.x = ev.clientX - drag.x; state.y = ev.clientY - drag.y; draw();
  });
  frame.addEventListener("pointerup", function () { drag = null; });
  frame.addEventListener("pointercancel", function () { drag = null; });

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
    };
    form.querySelectorAll("input[name=decision]").forEach(function (r) { r.addEventListener("change", sync); });
    sync();
  }
  draw();
}());
