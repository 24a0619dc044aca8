// Printable clearance documents: the Print button opens the browser's print dialogue (A4, see clearance.css).
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
