// Instruction Studio: toasts, the shortcut list (`?`) and htmx error messages. Every htmx request
// lights #loading-bar: the layout's <body hx-indicator> is inherited by every element.
(function () {
  "use strict";

  function toast(level, message) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var el = document.createElement("div");
    el.className = "toast toast-" + level;
    el.setAttribute("role", "status");
    el.textContent = message; // textContent: never interpret server text as HTML
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, 6000);
  }
  window.studioToast = toast;

  function expireToasts() {
    document.querySelectorAll("#toasts .toast").forEach(function (el) {
      setTimeout(function () { el.remove(); }, 6000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    expireToasts();
    document.querySelectorAll("[data-help-open]").forEach(function (btn) {
      btn.addEventListener("click", function () { document.getElementById("help").showModal(); });
    });
  });

  document.addEventListener("toast", function (e) { toast(e.detail.level, e.detail.message); });
  document.addEventListener("htmx:afterSwap", expireToasts);
  document.addEventListener("htmx:responseError", function (e) {
    var msg = e.detail.xhr.getResponseHeader("X-Studio-Message");
    toast("error", msg ? decodeURIComponent(msg) : document.body.dataset.msgError);
  });
  document.addEventListener("htmx:sendError", function () {
    toast("error", document.body.dataset.msgOffline);
  });

  // <select data-autosubmit> (the language switch, a user's role) sends its form on change.
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.matches && el.matches("[data-autosubmit]") && el.form) el.form.requestSubmit();
  });

  // <input type="checkbox" data-select-all="NAME"> ticks or clears every NAME box on the page.
  document.addEventListener("change", function (e) {
    var all = e.target;
    if (!all.matches || !all.matches("input[data-select-all]")) return;
    document.querySelectorAll('input[name="' + all.dataset.selectAll + '"]').forEach(function (c) {
      c.checked = all.checked;
    });
  });

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  window.studioTyping = typing;

  document.addEventListener("keydown", function (e) {
    if (e.key === "?" && !typing(e.target) && !e.ctrlKey && !e.metaKey) {
      var help = document.getElementById("help");
      if (help && !help.open) { e.preventDefault(); help.showModal(); }
    }
  });
})();
