// Household form: add member rows without a round trip (the 'Add another member' button
// still works without JavaScript), and bring the error summary into view after a refusal.
(function () {
  "use strict";
  const summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }

  const list = document.getElementById("members");
  const template = document.getElementById("member-template");
  const add = document.querySelector("[data-add-member]");
  if (!list || !template || !add) { return; }

  function renumber() {
    list.querySelectorAll("[data-member-number]").forEach(function (el, i) {
      el.textContent = String(i + 1);
    });
  }

  add.addEventListener("click", function (event) {
    event.preventDefault();
    const index = parseInt(list.dataset.nextIndex || "0", 10);
    list.dataset.nextIndex = String(index + 1);
    const html = template.innerHTML.split("__index__").join(String(index));
    list.insertAdjacentHTML("beforeend", html);
    renumber();
    const row = list.lastElementChild;
    const first = row && row.querySelector("input[type=text], input:not([type]), select");
    if (first) { first.focus(); }
  });

  // Ticking 'remove' on a row the clerk just added takes it away at once.
  list.addEventListener("change", function (event) {
    const box = event.target;
    if (!box.name || !/-remove$/.test(box.name) || !box.checked) { return; }
    const row = box.closest("[data-member-row]");
    const id = row && row.querySelector("input[type=hidden][name$='-id']");
    if (row && id && !id.value) { row.remove(); renumber(); }
  });
})();
