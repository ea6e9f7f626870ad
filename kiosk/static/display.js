// The wall display: the server pushes the whole panel over server-sent events; on a lost connection the
// browser reconnects (and the server sends a fresh panel first).
(function () {
  "use strict";
  var panel = document.getElementById("panel");
  var live = document.getElementById("live");
  var liveText = live.textContent;
  // When each panel arrived (epoch milliseconds), for the benchmark.
  window.halfdayPanels = [];

  function connect() {
    var source = new EventSource(document.body.dataset.events);
    source.addEventListener("panel", function (event) {
      panel.innerHTML = event.data;
      live.classList.remove("stale");
      live.textContent = liveText;
      window.halfdayPanels.push(performance.timeOrigin + performance.now());
    });
    source.addEventListener("error", function () {
      live.classList.add("stale");
      live.textContent = live.dataset.reconnecting;
      if (source.readyState === EventSource.CLOSED) { setTimeout(connect, 2000); }
    });
  }
  connect();
})();
