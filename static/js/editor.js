// Item editor: Ctrl+S saves, Ctrl+Enter submits; demo rows and constraint rows edit in place.
// A preference pair: Alt+X swaps its chosen and rejected response (a pair entered the wrong way
// round); the key is matched by its place (e.code), as Alt+X types a character on a Mac.
(function () {
  "use strict";
  function form() { return document.querySelector("form[data-editor]"); }
  function changed() { document.body.dispatchEvent(new Event("rows-changed")); }

  function swapResponses() {
    var chosen = document.getElementById("f-output");
    var rejected = document.getElementById("f-rejected");
    if (!chosen || !rejected) return false;
    var text = chosen.value;
    chosen.value = rejected.value;
    rejected.value = text;
    // As typing would: the live checks follow, and a browser's unsaved-change state too.
    chosen.dispatchEvent(new Event("input", { bubbles: true }));
    return true;
  }

  function send(action) {
    var f = form();
    if (!f) return;
    f.querySelector("[data-action]").value = action;
    f.requestSubmit(f.querySelector(action === "submit" ? "[data-submit]" : "[data-save]"));
  }

  if (!window.studioEditorKeys) {
    window.studioEditorKeys = true;
    document.addEventListener("keydown", function (e) {
      if (!form()) return;
      if ((e.ctrlKey || e.metaKey) && (e.key === "s" || e.key === "S")) { e.preventDefault(); send("save"); }
      else if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); send("submit"); }
      else if (e.altKey && !e.ctrlKey && !e.metaKey && !e.shiftKey && e.code === "KeyX" &&
               !e.isComposing && swapResponses()) { e.preventDefault(); }
    });
    document.addEventListener("click", function (e) {
      var t = e.target.closest("button");
      if (!t || !form() || !form().contains(t) && !t.closest("#constraint-rows")) return;
      if (t.matches("[data-save]")) { form().querySelector("[data-action]").value = "save"; }
      else if (t.matches("[data-swap-responses]")) { swapResponses(); }
      else if (t.matches("[data-submit]")) { form().querySelector("[data-action]").value = "submit"; }
      else if (t.matches("[data-add-demo]")) {
        var tpl = document.getElementById("demo-template");
        document.getElementById("demo-rows").appendChild(tpl.content.cloneNode(true));
        changed();
      } else if (t.matches("[data-remove-demo]")) {
        var rows = document.querySelectorAll("#demo-rows .demo-row");
        if (rows.length > 1) { t.closest(".demo-row").remove(); changed(); }
      } else if (t.matches("[data-move]")) {
        var row = t.closest(".demo-row");
        var step = parseInt(t.dataset.move, 10);
        if (step < 0 && row.previousElementSibling) row.parentNode.insertBefore(row, row.previousElementSibling);
        if (step > 0 && row.nextElementSibling) row.parentNode.insertBefore(row.nextElementSibling, row);
        changed();
      } else if (t.matches("[data-remove-row]")) {
        t.closest(".constraint-row").remove(); changed();
      } else if (t.matches("[data-add-constraint]")) {
        var picker = document.querySelector("[data-constraint-picker]");
        var next = 0;
        document.querySelectorAll("#constraint-rows .constraint-row").forEach(function (r) {
          next = Math.max(next, parseInt(r.dataset.row, 10) + 1);
        });
        var url = picker.dataset.url + "?id=" + encodeURIComponent(picker.value) + "&row=" + next;
        htmx.ajax("GET", url, { target: "#constraint-rows", swap: "beforeend" }).then(changed);
      }
    });
  }
})();
