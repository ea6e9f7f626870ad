// Admin: while a slow form is pending (enrolling a badge waits for it to be tapped), say what to do.
(function () {
  "use strict";
  var waiting = document.getElementById("waiting");
  Array.prototype.forEach.call(document.querySelectorAll("form[data-waiting]"), function (form) {
    form.addEventListener("submit", function () {
      waiting.querySelector("p").textContent = form.dataset.waiting;
      waiting.hidden = false;
    });
  });
})();
