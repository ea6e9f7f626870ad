"""The `halfday` command's entry point (pyproject's script, `python -m halfday`).

A daemon (`halfday door`, `kiosk`, `sync`...) starts with its own imports only. Every other command goes to
halfday/cli.py, whose imports (members, books, backups, restores, upgrades) the processes that run all day have no
use for: each would hold them in memory for years (bench.startup). One guard turns a failure into one line for
the manager, for the daemons and the commands alike.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

# Daemons and tools that live in other packages, imported only when asked for: the CLI must start even
# when, say, the kiosk's dependencies are broken.
RUNNERS = {
    "door": "access.daemon.door:main",
    "kiosk": "kiosk.serve:main",
    "sync": "sync.agent:main",
    "mail": "access.mailer:main",
    "homeassistant": "sync.homeassistant:main",
    "hub": "sync.hub.run:main",
    "demo": "halfday.demo:main",
}


class CliError(Exception):
    """A failure to report as one line on stderr."""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in RUNNERS:
        return run(argv[0], argv[1:])
    from halfday import cli

    return cli.main(argv)


def run(name: str, args: list[str]) -> int:
    """Start the daemon or tool `name` with its arguments."""
    module, _, func = RUNNERS[name].partition(":")
    return guarded(lambda: getattr(importlib.import_module(module), func)(args))


def guarded(action: Callable[[], int | None]) -> int:
    try:
        return action() or 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _report(exc)


def _report(exc: Exception) -> int:
    """The manager gets one line (a refused import, a line per refused row too); the details go to the log."""
    # Imported here, when something failed: a daemon that runs does not hold the management commands' modules.
    from access.admin import AdminError
    from access.config import ConfigError
    from access.importer import ImportRejected

    if isinstance(exc, (ConfigError, CliError, AdminError)):
        print(f"halfday : {exc}", file=sys.stderr)
    elif isinstance(exc, ImportRejected):
        for error in exc.errors:
            print(f"halfday : {error}", file=sys.stderr)
        print(f"halfday : {exc}", file=sys.stderr)
    else:
        print(f"halfday : erreur inattendue ({type(exc).__name__}: {exc})", file=sys.stderr)
    return 1
