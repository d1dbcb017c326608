// Board drag and drop: dropping a card on a column submits the card's own transition form
// whose target is that column, so the server runs the same transition as the buttons do and
// answers with the same messages. Cards stay fully usable without this script.
(function () {
  "use strict";
  const board = document.querySelector("[data-board]");
  if (!board) return;
  const live = document.createElement("p");
  live.className = "visually-hidden";
  live.setAttribute("aria-live", "assertive");
  board.before(live);
  let dragged = null;

  board.addEventListener("dragstart", (event) => {
    const card = event.target.closest("[data-project]");
    if (!card) return;
    dragged = card;
    card.classList.add("is-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.project);
  });
  board.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("is-dragging");
    board.querySelectorAll(".is-target").forEach((c) => c.classList.remove("is-target"));
    dragged = null;
  });
  board.addEventListener("dragover", (event) => {
    const column = event.target.closest("[data-step]");
    if (!dragged || !column) return;
    event.preventDefault();
    board.querySelectorAll(".is-target").forEach((c) => c !== column && c.classList.remove("is-target"));
    column.classList.add("is-target");
  });
  board.addEventListener("drop", (event) => {
    const column = event.target.closest("[data-step]");
    if (!dragged || !column) return;
    event.preventDefault();
    const step = column.dataset.step;
    if (step === dragged.dataset.state) return;
    const button = dragged.querySelector(`button[data-target="${step}"]`);
    if (!button) {
      live.textContent = board.dataset.refused || "Ce déplacement n'est pas possible depuis cette étape.";
      dragged.querySelector("details")?.setAttribute("open", "");
      return;
    }
    const form = button.form;
    const comment = form.querySelector("input[name=comment]");
    if (button.hasAttribute("data-needs-comment") && comment && !comment.value.trim()) {
      // A rework or an abandon needs its reason: open the card's moves on that field.
      dragged.querySelector("details")?.setAttribute("open", "");
      comment.focus();
      live.textContent = comment.labels[0]?.textContent || "";
      return;
    }
    form.requestSubmit(button);
  });
})();
