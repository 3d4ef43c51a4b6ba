// Overt's own behaviour on its pages, for what HTML and htmx do not do by themselves.
// No inline handlers anywhere (the CSP forbids them): behaviour hangs on data- attributes.
(function () {
  "use strict";

  // <button data-copy="ID">: copies the text of element ID, says so in the button.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // <select data-navigate>: going to the chosen option's value (a URL on this origin).
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-navigate]");
    if (select && select.value.charAt(0) === "/") window.location.assign(select.value);
  });

  // <input data-local-timezone> still at UTC: the browser's own zone, a better guess.
  document.querySelectorAll("input[data-local-timezone]").forEach(function (input) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (input.value === "UTC" && zone && zone.indexOf("/") > 0) input.value = zone;
  });

  // An open menu closes on Escape and on a click elsewhere.
  function closeMenus(except) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest("details.menu"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });
})();
