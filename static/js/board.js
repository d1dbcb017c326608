// Board drag and drop: dropping a card on a column submits the card's own transition form
// whose target is that column, so the server runs the same transition as the buttons do and
// answers with the same messages. Cards stay fully usable without this script.
(function () {
  "use strict";
  const board = document.querySelector("[data-board]");
  if (!board) return;
  let dragged = null;

  // After a move the board comes back at `#card-<pk>`: the moved card gets the focus (its
  // link), inside the closed strip if that is where it went, so keyboard use goes on there.
  // Done once the page has loaded: the browser's own move to the fragment would undo it.
  const focusMoved = () => {
    const moved = /^#card-\d+$/.test(window.location.hash) && document.querySelector(window.location.hash);
    if (!moved || !board.contains(moved)) return;
    const strip = moved.closest("[data-board-closed]");
    if (strip) strip.open = true;
    const link = moved.querySelector(".board__card-link") || moved;
    link.focus({ preventScroll: true });
    moved.scrollIntoView({ block: "nearest", inline: "nearest" });
  };
  if (document.readyState === "complete") setTimeout(focusMoved, 0);
  else window.addEventListener("load", () => setTimeout(focusMoved, 0));

  // A visible hint while some columns sit out of view to the right.
  const hint = document.querySelector("[data-board-hint]");
  const showHint = () => {
    const more = board.scrollWidth - board.clientWidth - board.scrollLeft > 4;
    board.classList.toggle("is-scrollable", more);
    if (hint) hint.hidden = !more;
  };
  board.addEventListener("scroll", showHint, { passive: true });
  window.addEventListener("resize", showHint);
  board.addEventListener("toggle", showHint, true);
  showHint();

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
    // The same transition view as the buttons, told the column rather than the move: the
    // server finds the move that leads there, runs it, and explains a refusal.
    const form = document.createElement("form");
    form.method = "post";
    form.action = board.dataset.moveUrl.replace("/0/", `/${dragged.dataset.project}/`);
    const fields = {
      csrfmiddlewaretoken: board.querySelector("[name=csrfmiddlewaretoken]").value,
      state: dragged.dataset.state,
      target: step,
      // Back to the board, to the moved card, which then gets the focus again.
      next: window.location.pathname + window.location.search + `#card-${dragged.dataset.project}`,
    };
    for (const [name, value] of Object.entries(fields)) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.append(input);
    }
    document.body.append(form);
    form.submit();
  });
})();
