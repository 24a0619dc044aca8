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
    const body = document.getElementById("u-problems");
    body.replaceChildren.apply(body, job.problems.map(function (p) {
      const tr = document.createElement("tr");
      [p.line, p.field, p.message].forEach(function (v, i) {
        const td = document.createElement("td"); td.textContent = v; if (i === 0) td.className = "num"; tr.append(td);
      });
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
