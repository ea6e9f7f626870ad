"""The kiosk: the touchscreen at the entrance, the wall display and the manager's admin, in one Flask app.

`create_app(config, ...)` builds it (kiosk/app.py); `halfday kiosk` serves it (kiosk/serve.py).
"""

from kiosk.app import create_app

__all__ = ["create_app"]
