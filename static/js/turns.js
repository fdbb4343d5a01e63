// A conversation's turns in the item editor. A user turn and the assistant's reply after it form
// an exchange: adding, moving and removing act on whole exchanges, so roles always alternate.
// Keys (inside a turn): Alt+Enter adds an exchange after the current one, Alt+ArrowUp/Down
// moves the current exchange, Alt+Shift+Backspace removes it (plain Alt+Backspace deletes a
// word on a Mac). Keys typed while an input method composes (Chinese, Japanese) are left alone.
(function () {
  "use strict";
  if (window.studioTurnKeys) return;
  window.studioTurnKeys = true;

  function rows() { return document.getElementById("turn-rows"); }
  function turns() { return Array.prototype.slice.call(rows().querySelectorAll("[data-turn]")); }
  function changed() { document.body.dispatchEvent(new Event("rows-changed")); }

  // The exchange a turn belongs to: its user turn and the reply after it (either may be alone
  // when a form came back with roles out of order).
  function exchange(turn) {
    var user = turn.dataset.role === "assistant" && turn.previousElementSibling &&
      turn.previousElementSibling.dataset.role === "user" ? turn.previousElementSibling : turn;
    var reply = user.nextElementSibling;
    return user.dataset.role === "user" && reply && reply.dataset.role === "assistant" ? [user, reply] : [user];
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
    var user = pair.querySelector("[data-turn]");
    if (after) {
      var group = exchange(after);
      var last = group[group.length - 1];
      last.parentNode.insertBefore(pair, last.nextElementSibling);
    } else {
      rows().appendChild(pair);
    }
    renumber();
    focusText(user);
    changed();
  }

  function move(turn, step) {
    var group = exchange(turn);
    var focused = document.activeElement;
    if (step < 0) {
      var before = group[0].previousElementSibling;
      if (!before) return;
      var target = exchange(before)[0];
      group.forEach(function (t) { target.parentNode.insertBefore(t, target); });
    } else {
      var next = group[group.length - 1].nextElementSibling;
      if (!next) return;
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
