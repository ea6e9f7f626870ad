"""A small filesystem of the test's own (a tmpfs, mounted as root) that a test fills and frees, so that a full disk
is a real one without filling the machine's."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "8m") -> Iterator[Path]:
    """`folder` as a tmpfs of `size`, unmounted after."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """A file that takes every free byte of `folder`'s filesystem; remove it to free them."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (65536, 4096, 512):  # large blocks, then the last few bytes
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * size)
    return filler
