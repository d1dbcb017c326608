// Deliverable uploads: several files at once, by drag and drop, each with a progress bar.
// Each file is sent as its own request to the same form URL the page posts to without
// JavaScript, so the server checks every file the same way and answers with a message.
(function () {
  "use strict";
  const form = document.querySelector("[data-upload]");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const title = form.querySelector("input[name=title]");
  const drop = form.querySelector("[data-drop]");
  const list = form.querySelector("[data-progress]");
  input.multiple = true;
  form.querySelector("[data-drop-hint]").hidden = false;
  if (title) title.required = false;

  ["dragenter", "dragover"].forEach((type) =>
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("is-target");
    }),
  );
  ["dragleave", "drop"].forEach((type) =>
    drop.addEventListener(type, () => drop.classList.remove("is-target")),
  );
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    input.files = event.dataTransfer.files;
  });

  function send(file) {
    const row = document.createElement("li");
    const label = document.createElement("span");
    const bar = document.createElement("progress");
    label.textContent = file.name;
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", file.name);
    row.append(label, bar);
    list.append(row);
    const data = new FormData();
    data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    data.append("kind", form.querySelector("[name=kind]").value);
    data.append("title", (title && title.value.trim()) || file.name.replace(/\.[^.]+$/, ""));
    data.append("file", file);
    return new Promise((resolve) => {
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("HX-Request", "true");
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) bar.value = Math.round((event.loaded / event.total) * 100);
      });
      request.addEventListener("load", () => {
        const ok = request.status === 201;
        bar.value = ok ? 100 : bar.value;
        const message = document.createElement("span");
        message.className = ok ? "upload__ok" : "upload__error";
        message.textContent = request.responseText || request.statusText;
        row.append(message);
        resolve(ok);
      });
      request.addEventListener("error", () => {
        const message = document.createElement("span");
        message.className = "upload__error";
        message.textContent = form.dataset.networkError || "Échec réseau : réessayez.";
        row.append(message);
        resolve(false);
      });
      request.send(data);
    });
  }

  form.addEventListener("submit", async (event) => {
    if (!input.files.length) return; // the server explains what is missing
    event.preventDefault();
    list.replaceChildren();
    const results = [];
    for (const file of input.files) results.push(await send(file));
    if (results.every(Boolean)) window.location.reload();
  });
})();
