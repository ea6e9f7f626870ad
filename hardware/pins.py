"""The gpiozero pin factory named by the config, never gpiozero's silent fallback.

gpiozero, left to itself, tries lgpio, RPi.GPIO, pigpio, native... and ends on whatever loads, with only a
warning. A door must not end up driving a mock relay, or the wrong library, because a package went missing:
every device in `hardware` is built with the factory returned here, and a backend that cannot load is an error.
"""

from __future__ import annotations

from typing import Any

from hardware.config import PIN_FACTORIES

# gpiozero's factories share no public base type worth naming here; devices accept any of them.
PinFactory = Any

_DEBIAN_PACKAGES = {"lgpio": "python3-lgpio", "rpigpio": "python3-rpi.gpio"}


class PinFactoryError(RuntimeError):
    """The GPIO backend named in the config cannot be used (message in French)."""


def make_pin_factory(name: str) -> PinFactory:
    """Return gpiozero's MockFactory for "mock", or the real LGPIO / RPi.GPIO factory; raise PinFactoryError."""
    if name == "mock":
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    if name not in PIN_FACTORIES:
        raise PinFactoryError(f"pilote GPIO « {name} » inconnu (attendu : {', '.join(PIN_FACTORIES)})")
    try:
        if name == "lgpio":
            from gpiozero.pins.lgpio import LGPIOFactory

            return LGPIOFactory()
        from gpiozero.pins.rpigpio import RPiGPIOFactory

        return RPiGPIOFactory()
    except ImportError as error:
        raise PinFactoryError(
            f"pilote GPIO « {name} » non installé ({error.name or error}) : "
            f"installer le paquet {_DEBIAN_PACKAGES[name]}, ou choisir hardware.pin_factory = « mock » "
            "pour une démonstration"
        ) from error
    except Exception as error:  # the library loaded but found no GPIO chip (not a Pi, no permission, ...)
        raise PinFactoryError(f"impossible d'ouvrir les GPIO avec « {name} » : {error}") from error
