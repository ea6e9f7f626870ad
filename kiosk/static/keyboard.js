// The on-screen keyboard and the digit keypad: the kiosk has no physical keyboard. Keys type into the field
// that last had focus, and never take the focus themselves.
(function () {
  "use strict";
  var LAYOUTS = {
    azerty: ["1234567890", "azertyuiop", "qsdfghjklm", "wxcvbn'\u00e9\u00e8\u00e7-"],
    qwerty: ["1234567890", "qwertyuiop", "asdfghjkl'", "zxcvbnm\u00e9-"]
  };
  var fields = Array.prototype.slice.call(document.querySelectorAll("form input[inputmode=none]"));
  var target = document.activeElement && fields.indexOf(document.activeElement) >= 0 ? document.activeElement : fields[0];
  var shift = false;

  document.addEventListener("focusin", function (event) {
    if (fields.indexOf(event.target) >= 0) { target = event.target; }
  });

  function type(text) {
    if (!target) { return; }
    if (target.classList.contains("code-input") || shift) { text = text.toUpperCase(); }
    var start = target.selectionStart === null ? target.value.length : target.selectionStart;
    var end = target.selectionEnd === null ? target.value.length : target.selectionEnd;
    if (target.maxLength > 0 && target.value.length - (end - start) + text.length > target.maxLength) { return; }
    target.setRangeText(text, start, end, "end");
    target.dispatchEvent(new Event("input", { bubbles: true }));
    setShift(false);
  }

  function erase() {
    if (!target) { return; }
    var start = target.selectionStart === null ? target.value.length : target.selectionStart;
    var end = target.selectionEnd === null ? target.value.length : target.selectionEnd;
    if (start === end && start > 0) { start -= 1; }
    target.setRangeText("", start, end, "end");
    target.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function next() {
    var visible = fields.filter(function (f) { return f.offsetParent !== null; });
    var index = visible.indexOf(target);
    target = visible[(index + 1) % visible.length];
    target.focus();
  }

  var keyboard = document.getElementById("keyboard");
  var shiftKey = null;
  function setShift(on) {
    shift = on;
    if (shiftKey) { shiftKey.classList.toggle("on", on); }
    if (keyboard) { keyboard.classList.toggle("upper", on); }
  }

  function key(label, action, extra) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "key" + (extra ? " " + extra : "");
    button.textContent = label;
    // Keep the focus (and the caret) in the field being typed into.
    button.addEventListener("pointerdown", function (event) { event.preventDefault(); });
    button.addEventListener("mousedown", function (event) { event.preventDefault(); });
    button.addEventListener("click", action);
    return button;
  }

  if (keyboard) {
    var rows = LAYOUTS[keyboard.dataset.layout] || LAYOUTS.azerty;
    rows.forEach(function (row) {
      var line = document.createElement("div");
      line.className = "key-row";
      Array.prototype.forEach.call(row, function (ch) {
        var button = key(ch, function () { type(ch); }, "key-char");
        button.dataset.key = ch;
        line.appendChild(button);
      });
      keyboard.appendChild(line);
    });
    var last = document.createElement("div");
    last.className = "key-row";
    shiftKey = key("\u21e7", function () { setShift(!shift); }, "key-shift");
    shiftKey.setAttribute("aria-label", keyboard.dataset.labelShift);
    last.appendChild(shiftKey);
    ["@", ".", "_"].forEach(function (ch) {
      var button = key(ch, function () { type(ch); }, "key-char");
      button.dataset.key = ch;
      last.appendChild(button);
    });
    var space = key(keyboard.dataset.labelSpace, function () { type(" "); }, "key-space");
    space.dataset.key = " ";
    last.appendChild(space);
    last.appendChild(key(keyboard.dataset.labelErase, erase, "key-erase"));
    last.appendChild(key(keyboard.dataset.labelNext, next, "key-next"));
    keyboard.appendChild(last);
  }

  var keypad = document.getElementById("keypad");
  if (keypad) {
    Array.prototype.forEach.call(keypad.querySelectorAll("button[data-key]"), function (button) {
      button.addEventListener("pointerdown", function (event) { event.preventDefault(); });
      button.addEventListener("mousedown", function (event) { event.preventDefault(); });
      button.addEventListener("click", function () {
        if (button.dataset.key === "erase") { erase(); } else { type(button.dataset.key); }
      });
    });
  }
})();
