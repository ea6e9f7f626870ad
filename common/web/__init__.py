"""The web toolkit the kiosk and the hub share: the app factory with its security defaults, CSRF, throttles, safe
redirects. Each app adds its context object and its blueprints."""
