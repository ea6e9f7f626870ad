"""The door's indicator over time: a decision switches the light and the buzzer on, the main loop's clock switches
them off. No thread per decision."""

from __future__ import annotations

from common.words import Signal
from hardware.protocols import Indicator


class IndicatorTimer:
    """Shows a decision on the green or red light and the buzzer, for the times given."""

    def __init__(self, indicator: Indicator, light_s: float, beep_grant_s: float, beep_deny_s: float) -> None:
        self.indicator = indicator
        self.light_s = light_s
        self.beep_s = {Signal.GRANT: beep_grant_s, Signal.DENY: beep_deny_s}
        self.light_off_at: float | None = None
        self.buzzer_off_at: float | None = None

    def show(self, signal: Signal, now: float) -> None:
        granted = signal == Signal.GRANT
        self.indicator.off("red" if granted else "green")
        self.indicator.on("green" if granted else "red")
        self.indicator.on("buzzer")
        self.light_off_at = now + self.light_s
        self.buzzer_off_at = now + self.beep_s[signal]

    def tick(self, now: float) -> None:
        """Switch off what has shown long enough."""
        if self.buzzer_off_at is not None and now >= self.buzzer_off_at:
            self.buzzer_off_at = None
            self.indicator.off("buzzer")
        if self.light_off_at is not None and now >= self.light_off_at:
            self.light_off_at = None
            self.indicator.off("green")
            self.indicator.off("red")

    def next_deadline(self) -> float | None:
        deadlines = [t for t in (self.light_off_at, self.buzzer_off_at) if t is not None]
        return min(deadlines) if deadlines else None
