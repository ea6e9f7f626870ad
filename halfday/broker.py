"""A Mosquitto broker run by halfday itself (the demo, the tests): free port, its own config and data dir.

The broker is started from /usr/sbin/mosquitto with `persistence true` and `autosave_interval 1`: without the
autosave a SIGKILL loses QoS 1 messages the broker had already acknowledged, which is exactly the fault the sync
tests inject. It can be killed and restarted on the same port, and it is stopped by its own PID, never by name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"
# Mosquitto needs a few tens of milliseconds to bind; a loaded 2-core machine may take seconds.
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.02


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (bind port 0, read it back, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mosquitto:
    """One Mosquitto process on 127.0.0.1 with its own config, persistence directory and log."""

    def __init__(
        self,
        workdir: Path | None = None,
        port: int | None = None,
        extra_config: str = "",
        config_path: Path | None = None,
    ) -> None:
        """`config_path`: run that configuration (which must listen on `port`) instead of writing one."""
        if not os.access(MOSQUITTO, os.X_OK):
            raise RuntimeError(
                f"{MOSQUITTO} is missing: install Debian's mosquitto package (apt-get install mosquitto)"
            )
        self._own_dir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="halfday-mosquitto-")) if workdir is None else workdir
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "mosquitto.log"
        self.config_path = config_path or self.workdir / "mosquitto.conf"
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.extra_config = extra_config
        self.proc: subprocess.Popen[bytes] | None = None
        if config_path is None:
            self._write_config()

    def _write_config(self) -> None:
        self.config_path.write_text(
            "\n".join(
                [
                    "user root",
                    "persistence true",
                    f"persistence_location {self.data_dir}/",
                    # Save the in-memory store every second so a SIGKILL loses at most one second of it.
                    "autosave_interval 1",
                    f"log_dest file {self.log_path}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    "set_tcp_nodelay true",
                    self.extra_config,
                    "",
                ]
            )
        )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start the broker and wait until it accepts TCP connections; raise with its log if it does not."""
        if self.running():
            raise RuntimeError("mosquitto is already running")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}\n{self.log()}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.5):
                return
            time.sleep(POLL_S)
        self.kill()
        raise RuntimeError(f"mosquitto did not accept connections on port {self.port}:\n{self.log()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the broker (SIGKILL by default, as a power cut would) and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def stop(self) -> None:
        """Stop cleanly (SIGTERM): Mosquitto writes its persistence file on the way out."""
        self.kill(signal.SIGTERM)

    def restart(self) -> None:
        """Start again on the same port with the same data directory (after `kill` or `stop`)."""
        self.kill()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        """Stop the broker and remove its directory if this helper created it."""
        self.kill(signal.SIGTERM)
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
