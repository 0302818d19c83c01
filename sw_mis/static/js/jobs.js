// Job progress: poll the JSON status endpoint and update the page, so a long import or
// screening shows rows done, rate and time left, and survives a page reload (the job lives on
// the server; the page only reads it).
(function () {
  "use strict";
  const boxes = document.querySelectorAll("[data-job-status-url]");
  function field(box, name) { return box.querySelector('[data-field="' + name + '"]'); }
  function seconds(s) {
    if (s === null || s === undefined) { return "–"; }
    if (s < 90) { return "about " + s + " s"; }
    if (s < 5400) { return "about " + Math.round(s / 60) + " min"; }
    return "about " + (s / 3600).toFixed(1) + " h";
  }
  function show(box, st) {
    const bar = box.querySelector("progress");
    if (st.percent !== null) { bar.value = st.percent; } else { bar.removeAttribute("value"); }
    field(box, "status").textContent = st.status;
    field(box, "rows_done").textContent = st.rows_done;
    field(box, "rows_total").textContent = st.rows_total === null ? "…" : st.rows_total;
    field(box, "rate").textContent = st.rate === null ? "–" : st.rate;
    field(box, "time_left").textContent = seconds(st.seconds_left);
    field(box, "message").textContent = st.message || "";
    const error = field(box, "error");
    error.textContent = st.error || "";
    error.classList.toggle("d-none", !st.error);
    field(box, "result").classList.toggle("d-none", !st.has_result);
    if (st.finished) {
      document.querySelectorAll("[data-hide-when-finished]").forEach(function (el) {
        el.classList.add("d-none");
      });
    }
  }
  boxes.forEach(function (box) {
    const url = box.dataset.jobStatusUrl;
    let reloadWhenDone = box.hasAttribute("data-reload-when-done");
    function poll() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (st) {
          show(box, st);
          if (!st.finished) { setTimeout(poll, 1000); }
          else if (reloadWhenDone) { reloadWhenDone = false; window.location.reload(); }
        })
        .catch(function () { setTimeout(poll, 5000); });
    }
    poll();
  });
})();
