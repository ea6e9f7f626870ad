// Admin: a slow form (enrolling a badge waits for it to be tapped at the door) is sent in the background so the
// page can say what to do meanwhile; the server keeps the outcome for the page, which then reloads to show it.
(function () {
  "use strict";
  var waiting = document.getElementById("waiting");
  Array.prototype.forEach.call(document.querySelectorAll("form[data-waiting]"), function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      waiting.querySelector("p").textContent = form.dataset.waiting;
      waiting.hidden = false;
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { "Accept": "application/json" },
        credentials: "same-origin"
      }).then(function () { window.location.reload(); }, function () { window.location.reload(); });
    });
  });
})();
