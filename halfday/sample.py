"""A sample site with invented members, one per case the door must handle: for tests, benchmarks and the demo."""

from __future__ import annotations

from pathlib import Path

from halfday.cli import main as cli

ALICE = "1A2B3C4D"  # unlimited plan
BRUNO = "2B3C4D5E"  # carnet of 2 half-days
CLARA = "3C4D5E6F"  # carnet used up, no overdraft
DENIS = "5E6F7A8B"  # badge revoked
UNKNOWN = "6F7A8B9C"  # nobody's badge

PLANS = (
    ("Illimité", "unlimited", None),
    ("Carnet 2", "carnet", 2),
    ("Carnet vide", "carnet", 1),
)
MEMBERS = (
    ("Alice", "Martin", "alice@example.org", "Illimité", ALICE),
    ("Bruno", "Petit", "bruno@example.org", "Carnet 2", BRUNO),
    ("Clara", "Roux", "clara@example.org", "Carnet vide", CLARA),
    ("Denis", "Blanc", "denis@example.org", "Illimité", DENIS),
)


class SampleError(RuntimeError):
    """A sample site could not be made (a `halfday` command failed, or the config template changed)."""


def _run(config: Path, *args: str) -> None:
    if cli(["--config", str(config), *args]) != 0:
        raise SampleError(f"halfday {' '.join(args)} a échoué")


def make_site(
    folder: Path,
    reader_path: str,
    bus_url: str | None = None,
    replace: dict[str, str] | None = None,
    extra_members: int = 0,
) -> Path:
    """Write a site config in `folder` (reader on `reader_path`), its database and the sample members.

    `extra_members` adds that many members on the unlimited plan with badges 10000000, 10000001, ...
    """
    path = folder / "halfday.toml"
    _run(path, "init", "--site-id", "le-local", "--name", "Le Local", "--reader", reader_path)
    # The sample trusts the machine's clock: a test or demo machine need not run NTP.
    text = path.read_text().replace("trust_clock = false", "trust_clock = true")
    if bus_url:
        text = text.replace('url = "mqtt://127.0.0.1:1883"', f'url = "{bus_url}"')
    for old, new in (replace or {}).items():
        if old not in text:
            raise SampleError(f"« {old} » absent de la configuration")
        text = text.replace(old, new)
    path.write_text(text)
    for name, kind, half_days in PLANS:
        size = ["--half-days", str(half_days)] if half_days else []
        _run(path, "plan", "add", name, "--kind", kind, *size, "--hours", "00:00-23:59")
    for first, last, email, plan, badge in MEMBERS:
        _run(path, "member", "add", first, last, "--email", email, "--plan", plan, "--badge", badge)
    _run(path, "badge", "revoke", DENIS)
    _run(path, "member", "topup", "clara@example.org", "-1")
    for i in range(extra_members):
        _run(path, "member", "add", f"Membre{i}", "--plan", "Illimité", "--badge", f"{0x10000000 + i:08X}")
    return path
