"""The demo's hardware simulator: a page where a person taps a sample badge, presses the exit button, opens and
closes the door. It drives the virtual card seen by the door's real nfcpy reader loop, and gpiozero's mock pins.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, jsonify, render_template_string

# A badge rests on the reader for this long, as a hand would hold it.
PRESENT_S = 0.4
# A press of the exit button, or the reed switch settling: longer than the inputs' debounce.
PRESS_S = 0.15


@dataclass(frozen=True)
class SampleBadge:
    uid: str
    label: str


class Simulator:
    """What the page acts on: the virtual card, and the mock pins of the door sensor and the exit button."""

    def __init__(self, card: Any, pin_factory: Any, door_pin: int | None, exit_pin: int | None) -> None:
        self.card = card
        self.factory = pin_factory
        self.door_pin = door_pin
        self.exit_pin = exit_pin
        self.door_open = False

    def tap(self, uid: str) -> None:
        self.card.present_nowait(uid, PRESENT_S)

    def press_exit(self) -> None:
        if self.exit_pin is None:
            return
        pin = self.factory.pin(self.exit_pin)
        pin.drive_low()
        time.sleep(PRESS_S)
        pin.drive_high()

    def set_door(self, is_open: bool) -> None:
        if self.door_pin is None:
            return
        pin = self.factory.pin(self.door_pin)
        pin.drive_high() if is_open else pin.drive_low()
        self.door_open = is_open

    def relay_energised(self, lock_pin: int) -> bool:
        return bool(self.factory.pin(lock_pin).state)


PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Simulateur de porte — halfday</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font-family:system-ui,sans-serif;background:#10151c;color:#f2f4f7;margin:0;padding:1.5rem}
 h1{font-size:1.6rem;margin:0 0 .3rem} p{color:#b8c2cc;margin:.2rem 0 1rem}
 section{margin:1.2rem 0} h2{font-size:1.1rem;color:#9fd3ff}
 button{font-size:1.1rem;padding:.9rem 1.2rem;margin:.3rem;border-radius:.6rem;border:0;cursor:pointer;
        background:#2d6cdf;color:#fff;min-width:11rem} button.alt{background:#3b4654}
 #state{font-size:1.1rem;padding:.8rem;background:#1c2530;border-radius:.6rem;display:inline-block}
 .on{color:#5fe08a}.off{color:#ff8f8f}
</style></head><body>
<h1>Simulateur de porte</h1>
<p>Le lecteur NFC, la serrure, le capteur de porte et le bouton de sortie de la démonstration.</p>
<section><h2>Badger</h2>
{% for badge in badges %}
<button data-uid="{{ badge.uid }}" onclick="post('/tap/{{ badge.uid }}')">{{ badge.label }}</button>
{% endfor %}
</section>
<section><h2>Porte</h2>
<button class="alt" id="exit" onclick="post('/exit')">Bouton de sortie</button>
<button class="alt" id="open" onclick="post('/door/open')">Ouvrir la porte</button>
<button class="alt" id="close" onclick="post('/door/close')">Fermer la porte</button>
</section>
<div id="state">…</div>
<script>
async function post(path){ await fetch(path,{method:'POST'}); refresh(); }
async function refresh(){
  const s = await (await fetch('/state')).json();
  document.getElementById('state').innerHTML =
    'Serrure : <b class="'+(s.unlocked?'on':'off')+'">'+(s.unlocked?'ouverte':'fermée')+'</b> — Porte : <b>'+
    (s.door_open?'ouverte':'fermée')+'</b>';
}
refresh(); setInterval(refresh, 300);
</script></body></html>"""


def create_simulator_app(simulator: Simulator, badges: list[SampleBadge], lock_pin: int) -> Flask:
    """The simulator's Flask app (the demo only: it is never part of an appliance)."""
    app = Flask("halfday.simulator")

    @app.get("/")
    def page() -> str:
        return render_template_string(PAGE, badges=badges)

    @app.post("/tap/<uid>")
    def tap(uid: str) -> Any:
        known = {b.uid for b in badges}
        if uid not in known:
            return jsonify(error="badge inconnu du simulateur"), 404
        simulator.tap(uid)
        return jsonify(ok=True)

    @app.post("/exit")
    def exit_button() -> Any:
        simulator.press_exit()
        return jsonify(ok=True)

    @app.post("/door/<action>")
    def door(action: str) -> Any:
        if action not in ("open", "close"):
            return jsonify(error="action inconnue"), 404
        simulator.set_door(action == "open")
        return jsonify(ok=True)

    @app.get("/state")
    def state() -> Any:
        return jsonify(unlocked=simulator.relay_energised(lock_pin), door_open=simulator.door_open)

    return app
