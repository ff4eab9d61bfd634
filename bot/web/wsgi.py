"""WSGI entry point for gunicorn and other servers: ``gunicorn bot.web.wsgi:app``.

A bad configuration value stops the server with one line naming the variable (gunicorn shows
it and exits), not a traceback.
"""

import sys

from bot.config import ConfigError
from bot.web.app import create_app

try:
    app = create_app()
except ConfigError as exc:
    sys.exit(f"ledgerbot: configuration: {exc}")
