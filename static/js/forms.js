// Long choice lists become searchable: a filter box above a select or a list of checkboxes
// hides the choices that do not contain what is typed (accents and case ignored). Without
// this script the box stays hidden and the whole list is there, as the server drew it.
(function () {
  "use strict";
  if (window.carreauForms) return;
  window.carreauForms = true;
  const fold = (text) => text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();

  function choicesOf(target) {
    if (target.tagName === "SELECT") return Array.from(target.options).filter((o) => o.value !== "");
    return Array.from(target.querySelectorAll(":scope > div"));
  }

  function setUp(box) {
    const target = document.getElementById(box.dataset.choiceFilter);
    if (!target || box.dataset.ready) return;
    box.dataset.ready = "1";
    box.hidden = false;
    box.addEventListener("input", () => {
      const words = fold(box.value).split(/\s+/).filter(Boolean);
      for (const choice of choicesOf(target)) {
        const text = fold(choice.textContent);
        const selected = choice.selected || (choice.querySelector && choice.querySelector(":checked"));
        choice.hidden = !selected && !words.every((word) => text.includes(word));
      }
    });
  }

  function setUpAll(root) {
    root.querySelectorAll("[data-choice-filter]").forEach(setUp);
  }
  document.addEventListener("DOMContentLoaded", () => setUpAll(document));
  document.addEventListener("htmx:afterSwap", (event) => setUpAll(event.target));
})();
