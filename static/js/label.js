// Labeling: number keys pick quality, Shift+number difficulty, letters kind and flags.
(function () {
  "use strict";
  if (window.studioLabelKeys) return;
  window.studioLabelKeys = true;
  document.addEventListener("keydown", function (e) {
    var form = document.querySelector("form[data-label-form]");
    if (!form || (window.studioTyping && window.studioTyping(e.target) && e.target.type !== "radio" && e.target.type !== "checkbox")) return;
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); form.requestSubmit(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var digit = /^Digit([1-5])$/.exec(e.code);
    if (digit) {
      var attr = e.shiftKey ? "data-difficulty" : "data-quality";
      var input = form.querySelector("[" + attr + '="' + digit[1] + '"]');
      if (input) { e.preventDefault(); input.checked = true; }
      return;
    }
    var keyed = form.querySelector('[data-key="' + e.key + '"]');
    if (keyed) {
      e.preventDefault();
      keyed.checked = keyed.type === "checkbox" ? !keyed.checked : true;
    }
  });
})();
