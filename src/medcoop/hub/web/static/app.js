// Small conveniences; every page works without them.
(function () {
  "use strict";
  // a form is sent once: a second click while the first is in flight does nothing
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
    });
  });
})();
