"""The Raspberry Pi's devices at the door: lock relay, door sensor, exit button, indicator (gpiozero) and the
NFC reader (nfcpy), each behind a small Protocol, plus their simulators (gpiozero's MockFactory, a virtual card
on nfcpy's udp driver). No business rules here.

Modules: config (the `[hardware]` TOML section), protocols (the interfaces), pins (pin factory chosen by the
config), gpio (gpiozero devices), reader (nfcpy loop with recovery), devices (`build_devices`, `build_reader`),
virtual_card (emulated badge). Import from them directly; this package imports nothing so that reading the
config does not load gpiozero or nfcpy.
"""
