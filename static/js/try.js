// Try the model: Ctrl+Enter (Cmd+Enter on a Mac) in the prompt asks both models, once per
// press. A listener here rather than an htmx trigger filter: filters need eval, which the
// Content-Security-Policy does not allow. Keys are ignored while an IME composes.
(function () {
  "use strict";
  if (window.studioTryKeys) return;
  window.studioTryKeys = true;

  document.addEventListener("keydown", function (e) {
    if (e.isComposing || e.keyCode === 229) return;
    if (e.key !== "Enter" || !(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey) return;
    if (!e.target || e.target.id !== "try-prompt") return;
    var form = document.getElementById("try-form");
    if (!form) return;
    e.preventDefault();
    form.requestSubmit(document.getElementById("try-ask"));
  });
})();
