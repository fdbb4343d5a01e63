// The judging screen. Pairwise rounds: 1 Output 1 better, 2 Output 2 better, 3 tie, 4 both bad;
// the key sends the form at once, with any reasons ticked and comment typed before it.
// Rating rounds: 1-5 rates Output 1, then 1-5 rates Output 2 and sends; c marks the output being
// rated correct. Everywhere: j / k next / previous prompt, v shows the constraint checks.
// Keys are ignored while typing in the comment (Esc leaves it) and while an IME composes.
(function () {
  "use strict";
  if (window.studioJudgeKeys) return;
  window.studioJudgeKeys = true;
  var sent = false;
  var rating = "first"; // the output the rating keys rate now

  function form() { return document.querySelector("form[data-judge-form]"); }

  // Text fields take keys; ticked boxes and buttons do not (a reason ticked with Space, then
  // a number key, sends the judgment with that reason).
  function typing(target) {
    if (!target || !target.tagName) return false;
    if (target.isContentEditable) return true;
    var tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    return ["checkbox", "radio", "button", "submit", "reset"].indexOf(target.type) < 0;
  }

  function closed(f) {
    var fields = f.querySelector("fieldset.judge-fields");
    return fields && fields.disabled;
  }

  function send(f, submitter) {
    if (sent) return;
    sent = true; // one answer per page: a second key press before the next page must not resend
    if (submitter) f.requestSubmit(submitter); else f.requestSubmit();
  }

  function showRating(f) {
    f.querySelectorAll("[data-output]").forEach(function (el) {
      el.classList.toggle("rating-now", el.dataset.output === rating);
    });
  }

  function follow(selector) {
    var link = document.querySelector(selector);
    if (link) window.location.href = link.href;
    return !!link;
  }

  function toggleVerdicts() {
    var all = Array.prototype.slice.call(document.querySelectorAll("details[data-verdicts]"));
    var open = all.some(function (d) { return !d.open; });
    all.forEach(function (d) { d.open = open; });
    return all.length > 0;
  }

  function rate(f, digit) {
    var box = f.querySelector('[data-output="' + rating + '"]');
    var input = box && box.querySelector('input[data-rating="' + digit + '"]');
    if (!input) return;
    input.checked = true;
    if (rating === "first") {
      rating = "second";
      showRating(f);
    } else {
      send(f);
    }
  }

  document.addEventListener("keydown", function (e) {
    if (e.isComposing || e.keyCode === 229) return;
    var f = form();
    if (e.key === "Escape" && e.target && e.target.tagName === "TEXTAREA" && f && f.contains(e.target)) {
      e.target.blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    var help = document.getElementById("help");
    if (help && help.open) return;
    var handled = false;
    if (e.key === "j") handled = follow("[data-judge-next]");
    else if (e.key === "k") handled = follow("[data-judge-prev]");
    else if (e.key === "v") handled = toggleVerdicts();
    else if (f && !closed(f) && !sent) {
      if (f.dataset.mode === "rating") {
        if (/^[1-5]$/.test(e.key)) { rate(f, e.key); handled = true; }
        else if (e.key === "c") {
          var box = f.querySelector('[data-output="' + rating + '"] input[data-correct]');
          if (box) { box.checked = !box.checked; handled = true; }
        }
      } else if (/^[1-4]$/.test(e.key)) {
        var button = f.querySelector('button[data-choice-key="' + e.key + '"]');
        if (button) { send(f, button); handled = true; }
      }
    }
    if (handled) e.preventDefault();
  });

  // A rating given with the mouse moves the keys on to the other output.
  document.addEventListener("change", function (e) {
    var f = form();
    if (!f || !f.contains(e.target) || e.target.name !== "rating_first") return;
    rating = "second";
    showRating(f);
  });

  // A click on a choice sends the form once, as a key does.
  document.addEventListener("submit", function (e) {
    if (e.target === form()) sent = true;
  });
  // Back to this page from the history cache: it may be answered again.
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) sent = false;
  });
})();
