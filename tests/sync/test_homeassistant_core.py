"""The bridge's discovery set against Home Assistant core itself: its own MQTT discovery schemas (binary sensor,
sensor, button) accept every config the bridge published on a real Mosquitto, and drop no key.

Home Assistant 2024.3.3 is the last release that runs on this Python (3.11; 2024.4 needs 3.12): it is installed
once into a virtualenv of its own (about seven minutes with pip here), kept in HALFDAY_HA_VENV or
~/.cache/halfday-tests/homeassistant-2024.3.3, and never imported by halfday's tests. Run by `make ha-core`, not
in CI, for that reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sync.homeassistant import Bridge
from tests.support.ha_discovery import validate_set
from tests.support.site import Site
from tests.support.wait import wait_until
from tests.sync.test_homeassistant import ENTITIES, PREFIX, Watcher, ha_broker, setup  # noqa: F401 (fixtures)

HA_VERSION = "2024.3.3"
# The MQTT integration's own requirement in that release.
PAHO_FOR_HA = "paho-mqtt==1.6.1"
CHECK = Path(__file__).resolve().parents[1] / "support" / "ha_core_check.py"


def ha_python() -> Path:
    """Home Assistant's interpreter, its virtualenv made first if there is none."""
    default = Path.home() / ".cache" / "halfday-tests" / f"homeassistant-{HA_VERSION}"
    venv = Path(os.environ.get("HALFDAY_HA_VENV", default))
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", f"homeassistant=={HA_VERSION}", PAHO_FOR_HA]
        subprocess.run(pip, check=True, timeout=1500)
    return python


@pytest.mark.ha_core
@pytest.mark.timeout(1800)
def test_home_assistant_core_accepts_the_discovery_set(setup: Callable[..., tuple[Site, Bridge, Watcher]]) -> None:  # noqa: F811
    python = ha_python()
    _site, _bridge, watcher = setup(allow_unlock=True)
    assert wait_until(lambda: len(watcher.configs()) == ENTITIES + 1, 10)
    published = watcher.configs()
    live = validate_set(PREFIX, published)  # our own reading of the documented rules first
    batch = [[topic.split("/")[1], json.loads(published[topic])] for topic in live]
    result = subprocess.run(
        [str(python), str(CHECK)], input=json.dumps(batch), capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stdout + result.stderr
