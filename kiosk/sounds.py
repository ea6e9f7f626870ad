"""The touchscreen's two sound cues, synthesised here so nothing is downloaded: a rising two-tone chime for a
granted entry, a low double buzz for a refusal. The WAV files are committed; run `python -m kiosk.sounds` to
write them again after changing a tone."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 16000  # Hz: plenty for tones under 2 kHz, and the files stay a few kilobytes
VOLUME = 0.5
FADE_S = 0.01  # ramps at each end of a tone, so the speaker does not click
SOUNDS = Path(__file__).with_name("static") / "sounds"

# (frequency in Hz, or 0 for silence; duration in seconds)
GRANT = ((880.0, 0.12), (1318.5, 0.18))
DENY = ((220.0, 0.16), (0.0, 0.06), (220.0, 0.16))


def samples(tones: tuple[tuple[float, float], ...]) -> list[int]:
    """16-bit samples of the tones played one after another."""
    out: list[int] = []
    for frequency, seconds in tones:
        count = int(RATE * seconds)
        fade = int(RATE * FADE_S)
        for i in range(count):
            envelope = min(1.0, i / fade, (count - 1 - i) / fade) if fade else 1.0
            value = math.sin(2 * math.pi * frequency * i / RATE) if frequency else 0.0
            if frequency and frequency < 400:
                value = math.copysign(min(1.0, abs(value) * 1.6), value)  # a buzz: a slightly clipped tone
            out.append(int(32767 * VOLUME * envelope * value))
    return out


def write(path: Path, tones: tuple[tuple[float, float], ...]) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        data = samples(tones)
        wav.writeframes(struct.pack(f"<{len(data)}h", *data))


def main() -> None:
    SOUNDS.mkdir(parents=True, exist_ok=True)
    write(SOUNDS / "grant.wav", GRANT)
    write(SOUNDS / "deny.wav", DENY)


if __name__ == "__main__":
    main()
