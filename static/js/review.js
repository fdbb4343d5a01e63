// Review keys: a approve, r reject, c request changes (then 1-8 picks the reason and sends),
// e edit, j next, k previous. The queue page: j starts.
(function () {
  "use strict";
  if (window.studioReviewKeys) return;
  window.studioReviewKeys = true;
  var pending = null;

  function form() { return document.querySelector("form[data-review-form]"); }

  // A decision the page does not offer (the reviewer may not make it) is not sent: the page
  // already says why, and the key only points at that sentence.
  function send(decision) {
    var f = form();
    var button = f.querySelector('[data-set-decision="' + decision + '"]');
    if (!button) {
      var why = document.getElementById("approve-refused");
      if (why) why.scrollIntoView({block: "nearest"});
      return;
    }
    f.querySelector("[data-decision]").value = decision;
    f.requestSubmit(button);
  }

  // The queue form starts at the next item matching its filters: empty filters stay out of the URL.
  document.addEventListener("submit", function (e) {
    var queue = e.target;
    if (!queue.matches || !queue.matches("form[data-queue-form]")) return;
    var q = new URLSearchParams(new FormData(queue));
    q.delete("csrf_token");
    ["kind", "domain", "author", "tag", "reason"].forEach(function (k) { if (!q.get(k)) q.delete(k); });
    queue.action = queue.dataset.nextUrl + (q.toString() ? "?" + q.toString() : "");
  });

  document.addEventListener("click", function (e) {
    var b = e.target.closest("[data-set-decision]");
    if (b && form()) form().querySelector("[data-decision]").value = b.dataset.setDecision;
  });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (window.studioTyping && window.studioTyping(e.target)) return;
    var queue = document.querySelector("form[data-queue-form]");
    if (queue && e.key === "j") { e.preventDefault(); queue.requestSubmit(); return; }
    var f = form();
    if (pending && /^[1-8]$/.test(e.key) && f) {
      var option = f.querySelector('[data-reason] option[data-index="' + e.key + '"]');
      if (option) { e.preventDefault(); f.querySelector("[data-reason]").value = option.value; send(pending); }
      return;
    }
    if (e.key === "a" && f) { e.preventDefault(); send("approve"); }
    else if ((e.key === "r" || e.key === "c") && f) {
      e.preventDefault();
      pending = e.key === "r" ? "reject" : "request_changes";
      f.querySelector("[data-decision]").value = pending;
      var hint = document.getElementById("decision-hint");
      hint.hidden = false;
      hint.textContent = hint.dataset[pending] || "1–8";
      f.querySelector("[data-reason]").focus();
    } else if (e.key === "e") {
      var edit = document.querySelector("[data-edit]");
      if (edit) { e.preventDefault(); window.location.href = edit.href; }
    } else if (e.key === "j") {
      var skip = document.querySelector("form[data-skip]");
      if (skip) { e.preventDefault(); skip.requestSubmit(); }
    } else if (e.key === "k") {
      var prev = document.querySelector("[data-previous]");
      if (prev) { e.preventDefault(); window.location.href = prev.href; }
    }
  });
  // The reason select has focus after r/c: number keys still pick the reason there.
  document.addEventListener("keydown", function (e) {
    if (!pending || !e.target.matches || !e.target.matches("[data-reason]")) return;
    if (/^[1-8]$/.test(e.key)) {
      var f = form();
      var option = f.querySelector('[data-reason] option[data-index="' + e.key + '"]');
      if (option) { e.preventDefault(); f.querySelector("[data-reason]").value = option.value; send(pending); }
    }
  }, true);
})();
