// The touchscreen: live taps from the door (server-sent events), sound cues, return to the attract screen when
// idle, and the optional card binding of the purchase form. No library: everything is served by the kiosk.
(function () {
  "use strict";
  var body = document.body;
  var tap = document.getElementById("tap");
  var showMs = parseInt(body.dataset.tapShowMs, 10) || 5000;
  var idleMs = parseInt(body.dataset.idleMs, 10) || 60000;
  var holder = body.dataset.holder || null;
  var hideTimer = null;
  // When each tap became visible (epoch milliseconds): read by the benchmark, harmless otherwise.
  window.halfdayTaps = [];

  function play(id) {
    var audio = document.getElementById(id);
    if (!audio) { return; }
    audio.currentTime = 0;
    var playing = audio.play();
    if (playing && playing.catch) { playing.catch(function () {}); }  // no sound before a first touch: fine
  }

  function show(news) {
    if (holder && news.holder === holder) { return; }  // this page already says the door opened for this pass
    if (news.account && body.classList.contains("attract-page")) {
      // A member tapped while the screen waits: their account, for a short while. Never over a walk-in's purchase.
      window.location.href = news.account;
      return;
    }
    tap.className = "tap " + (news.granted ? "tap-granted" : "tap-refused");
    tap.querySelector(".tap-icon").textContent = news.granted ? "\u2713" : "\u2715";
    tap.querySelector(".tap-title").textContent = news.title;
    tap.querySelector(".tap-message").textContent = news.message;
    var chips = tap.querySelector(".tap-chips");
    chips.replaceChildren();
    news.chips.forEach(function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      chips.appendChild(li);
    });
    tap.dataset.event = news.event;
    tap.hidden = false;
    play(news.granted ? "sound-grant" : "sound-deny");
    requestAnimationFrame(function () {
      setTimeout(function () {
        window.halfdayTaps.push({ event: news.event, seq: news.seq, shownAt: performance.timeOrigin + performance.now() });
      }, 0);
    });
    clearTimeout(hideTimer);
    hideTimer = setTimeout(function () { tap.hidden = true; }, showMs);
  }
  tap.addEventListener("click", function () { tap.hidden = true; });

  function connect() {
    var source = new EventSource(body.dataset.events);
    source.addEventListener("tap", function (event) { show(JSON.parse(event.data)); });
    source.addEventListener("error", function () {
      // The browser retries by itself after a network error; after an HTTP error it gives up, so start again.
      if (source.readyState === EventSource.CLOSED) { setTimeout(connect, 2000); }
    });
  }
  connect();

  if (!body.classList.contains("attract-page")) {
    var idleTimer = null;
    var reset = function () {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(function () { window.location.href = body.dataset.home; }, idleMs);
    };
    ["pointerdown", "keydown", "input"].forEach(function (name) {
      document.addEventListener(name, reset, { passive: true });
    });
    reset();
  }

  var bind = document.getElementById("bind-card");
  if (bind) {
    var status = document.getElementById("card-status");
    var card = document.getElementById("card");
    if (card.value) { status.textContent = bind.dataset.bound; }
    bind.addEventListener("click", function () {
      bind.disabled = true;
      status.textContent = bind.dataset.waiting;
      fetch(bind.dataset.url, { method: "POST", headers: { "X-CSRF-Token": bind.dataset.csrf } })
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          if (answer.card) {
            card.value = answer.card;
            status.textContent = bind.dataset.bound;
          } else {
            status.textContent = answer.error;
          }
        })
        .catch(function () { status.textContent = ""; })
        .then(function () { bind.disabled = false; });
    });
  }
})();
