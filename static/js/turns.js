// A conversation's turns in the item editor. A user turn and the assistant's reply after it form
// an exchange: adding, moving and removing act on whole exchanges, so roles always alternate.
// Keys (inside a turn): Alt+Enter adds an exchange after the current one, Alt+ArrowUp/Down
// moves the current exchange, Alt+Shift+Backspace removes it (plain Alt+Backspace deletes a
// word on a Mac). Keys typed while an input method composes (Chinese, Japanese) are left alone.
// A preference pair's prompt turns (data-lead="assistant") end with the user turn both responses
// answer: its first user turn stands alone and stays first, and each reply goes with the user
// turn after it, so the turns always start and end with the user.
(function () {
  "use strict";
  if (window.studioTurnKeys) return;
  window.studioTurnKeys = true;

  function rows() { return document.getElementById("turn-rows"); }
  function turns() { return Array.prototype.slice.call(rows().querySelectorAll("[data-turn]")); }
  function changed() { document.body.dispatchEvent(new Event("rows-changed")); }

  // Which role opens an exchange: the user's in a conversation, the reply in a pair's prompt.
  function lead() { return rows().dataset.lead === "assistant" ? "assistant" : "user"; }
  function follow() { return lead() === "user" ? "assistant" : "user"; }
  // A pair's lone first user turn, and any exchange cut short, stays where it is.
  function fixed(group) { return lead() === "assistant" && group.length < 2; }

  // The exchange a turn belongs to: its opening turn and the one after it (either may be alone
  // when a form came back with roles out of order, and a pair's first user turn always is).
  function exchange(turn) {
    var prev = turn.previousElementSibling;
    var head = turn.dataset.role === follow() && prev && prev.dataset.role === lead() ? prev : turn;
    var next = head.nextElementSibling;
    return head.dataset.role === lead() && next && next.dataset.role === follow() ? [head, next] : [head];
  }

  function renumber() {
    var name = rows().dataset.turnLabel || "{n}";
    turns().forEach(function (turn, index) {
      var id = "turn-" + index;
      turn.querySelector("[data-turn-text]").id = id;
      turn.querySelector("label").htmlFor = id;
      turn.querySelector("[data-turn-name]").textContent = name.replace("{n}", String(index + 1));
    });
  }

  function focusText(turn) {
    var text = turn && turn.querySelector("[data-turn-text]");
    if (text) text.focus();
  }

  function add(after) {
    var pair = document.getElementById("turn-pair-template").content.cloneNode(true);
    var first = pair.querySelector("[data-turn]");
    if (after) {
      var group = exchange(after);
      var last = group[group.length - 1];
      last.parentNode.insertBefore(pair, last.nextElementSibling);
    } else {
      rows().appendChild(pair);
    }
    renumber();
    focusText(first);
    changed();
  }

  function move(turn, step) {
    var group = exchange(turn);
    var focused = document.activeElement;
    if (fixed(group)) return;
    if (step < 0) {
      var before = group[0].previousElementSibling;
      if (!before || fixed(exchange(before))) return;
      var target = exchange(before)[0];
      group.forEach(function (t) { target.parentNode.insertBefore(t, target); });
    } else {
      var next = group[group.length - 1].nextElementSibling;
      if (!next || fixed(exchange(next))) return;
      var nextGroup = exchange(next);
      var anchor = nextGroup[nextGroup.length - 1].nextElementSibling;
      group.forEach(function (t) { rows().insertBefore(t, anchor); });
    }
    renumber();
    if (focused && rows().contains(focused)) focused.focus(); // moving a node drops its focus
    changed();
  }

  function remove(turn) {
    var group = exchange(turn);
    if (fixed(group)) return;
    if (turns().length <= group.length) return; // a conversation keeps one exchange
    var neighbour = group[0].previousElementSibling || group[group.length - 1].nextElementSibling;
    group.forEach(function (t) { t.remove(); });
    renumber();
    focusText(neighbour);
    changed();
  }

  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("button");
    if (!b || !rows() || !b.closest("#turns")) return;
    if (b.matches("[data-add-turns]")) add(null);
    else if (b.matches("[data-turn-move]")) move(b.closest("[data-turn]"), parseInt(b.dataset.turnMove, 10));
    else if (b.matches("[data-turn-remove]")) remove(b.closest("[data-turn]"));
  });

  document.addEventListener("keydown", function (e) {
    if (e.isComposing || e.keyCode === 229 || !e.altKey || e.ctrlKey || e.metaKey) return;
    var turn = e.target.closest && e.target.closest("#turn-rows [data-turn]");
    if (!turn) return;
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); add(turn); }
    else if (e.key === "ArrowUp" && !e.shiftKey) { e.preventDefault(); move(turn, -1); }
    else if (e.key === "ArrowDown" && !e.shiftKey) { e.preventDefault(); move(turn, 1); }
    else if (e.key === "Backspace" && e.shiftKey) { e.preventDefault(); remove(turn); }
  });
})();
