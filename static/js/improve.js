// Improving a model output. Ctrl+Enter (Cmd+Enter on a Mac) saves the pair and opens the next
// output; Esc leaves the response box, and outside it goes back to the list of outputs.
// Keys are ignored while an IME composes.
(function () {
  "use strict";
  if (window.studioImproveKeys) return;
  window.studioImproveKeys = true;
  var sent = false;

  function form() { return document.querySelector("form[data-improve-form]"); }

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName;
    return target.isContentEditable || tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT";
  }

  document.addEventListener("keydown", function (e) {
    if (e.isComposing || e.keyCode === 229) return;
    var f = form();
    if (!f) return;
    var help = document.getElementById("help");
    if (help && help.open) return;
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey) {
      e.preventDefault();
      if (sent) return;
      if (!f.checkValidity()) { f.reportValidity(); return; }
      var save = f.querySelector("[data-improve-save]");
      sent = true; // one pair per page: a second press before the next page must not save twice
      f.requestSubmit(save);
      return;
    }
    if (e.key !== "Escape" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (typing(e.target)) {
      e.target.blur();
      return;
    }
    var back = document.querySelector("[data-improve-back]");
    if (back) window.location.href = back.href;
  });

  // A refused save re-renders the page: the next press may save again.
  document.addEventListener("pageshow", function () { sent = false; });
})();
