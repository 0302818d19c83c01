// Idle-session warning: a minute before the server would end the session, offer to stay signed
// in, so a clerk in the middle of a long form never loses what was typed.
(function () {
  "use strict";
  const body = document.body;
  const minutes = parseInt(body.dataset.idleMinutes || "0", 10);
  if (!minutes) { return; }
  const warning = document.getElementById("idle-warning");
  let timer = null;
  function arm() {
    clearTimeout(timer);
    warning.classList.add("d-none");
    timer = setTimeout(function () { warning.classList.remove("d-none"); },
                       Math.max(minutes - 1, 0) * 60 * 1000);
  }
  document.getElementById("stay-signed-in").addEventListener("click", function () {
    fetch(body.dataset.keepaliveUrl, {
      method: "POST", credentials: "same-origin",
      headers: {"X-CSRFToken": body.dataset.csrf},
    }).then(arm);
  });
  arm();
})();

// The language switcher: choosing a language applies it (the button is there without script).
(function () {
  "use strict";
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
