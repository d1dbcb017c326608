// The header's folding menus (<details data-menu>) work without JavaScript; this only closes
// an open one on Escape or on a click elsewhere, as people expect of a menu.
(function () {
  "use strict";
  function openMenus() {
    return document.querySelectorAll("details[data-menu][open]");
  }
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    openMenus().forEach(function (menu) {
      if (getComputedStyle(menu.querySelector("summary")).display === "none") return;
      menu.open = false;
      menu.querySelector("summary").focus();
    });
  });
  document.addEventListener("click", function (event) {
    openMenus().forEach(function (menu) {
      if (getComputedStyle(menu.querySelector("summary")).display === "none") return;
      if (!menu.contains(event.target)) menu.open = false;
    });
  });
})();
