// Viscount console: the little the pages need beyond htmx. No inline script exists
// (the Content-Security-Policy forbids it), so behaviour is attached here.
(function () {
  "use strict";
  // A form being sent cannot be sent twice by a double click (checkout, refunds).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute("hx-post")) { return; }
    if (form.dataset.sent === "yes") { event.preventDefault(); return; }
    form.dataset.sent = "yes";
    var button = form.querySelector("button[type=submit]");
    if (button) { button.setAttribute("aria-busy", "true"); }
  });
  // After the browser's back button, forms may be sent again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sent]").forEach(function (form) {
      delete form.dataset.sent;
    });
  });
})();
