// Bulk upload: send the file with a transfer progress bar, then follow the lodging progress and report.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const card = document.getElementById("progress-card");
  const bar = document.getElementById("upload-progress");
  const phase = document.getElementById("upload-phase");
  if (!form || !card) return;

  function set(id, v) { document.getElementById(id).textContent = v; }

  function render(job) {
    bar.max = Math.max(job.total, 1);
    bar.value = job.done;
    set("u-total", job.total); set("u-done", job.done); set("u-created", job.created);
    set("u-repeated", job.repeated); set("u-rejected", job.rejected); set("u-problem-count", job.problem_count);
    phase.dataset.state = job.state;
    phase.textContent = phase.dataset[job.state] || job.state;
    const head = document.getElementById("u-field-head");
    head.textContent = job.csv ? head.dataset.column : head.dataset.field;
    const body = document.getElementById("u-problems");
    body.replaceChildren.apply(body, job.problems.map(function (p) {
      const tr = document.createElement("tr");
      [p.line, p.field, p.message].forEach(function (v, i) {
        const td = document.createElement("td"); td.textContent = v; if (i === 0) td.className = "num"; tr.append(td);
      });
      return tr;
    }));
    const link = document.getElementById("u-report-link");
    link.href = "/upload/" + job.id + "/report.csv";
    link.hidden = !(job.problem_count > 0 && job.state !== "running");
    const lodged = document.getElementById("u-lodged");
    const statuses = JSON.parse(lodged.dataset.statuses), lanes = JSON.parse(lodged.dataset.lanes);
    lodged.replaceChildren.apply(lodged, job.lodged.map(function (r) {
      const tr = document.createElement("tr");
      const line = document.createElement("td"); line.className = "num"; line.textContent = r.line;
      const no = document.createElement("td"); const a = document.createElement("a");
      a.href = "/declarations/" + encodeURIComponent(r.no); a.textContent = r.no; no.append(a);
      const cells = [statuses[r.status] || r.status || "\u2014", lanes[r.lane] || r.lane || "\u2014",
                     r["new"] ? lodged.dataset["new"] : lodged.dataset.repeat].map(function (v) {
        const td = document.createElement("td"); td.textContent = v; return td;
      });
      tr.append(line, no, cells[0], cells[1], cells[2]);
      return tr;
    }));
  }

  function poll(url) {
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (job) {
      render(job);
      if (job.state === "running") setTimeout(function () { poll(url); }, 300);
    }).catch(function () { setTimeout(function () { poll(url); }, 1000); });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const xhr = new XMLHttpRequest();
    card.hidden = false;
    phase.textContent = phase.dataset.sending;
    bar.value = 0; bar.max = 1;
    xhr.upload.onprogress = function (e) { if (e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; } };
    xhr.onload = function () {
      if (xhr.status !== 202) { phase.textContent = phase.dataset.failed + " (" + xhr.status + ")"; return; }
      const job = JSON.parse(xhr.responseText);
      history.replaceState(null, "", "/upload/" + job.job);
      poll(job.status_url);
    };
    xhr.open("POST", "/upload");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.send(new FormData(form));
  });

  if (card.dataset.statusUrl && phase.dataset.state === "running") poll(card.dataset.statusUrl);
})();
