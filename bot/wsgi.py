"""The 0.1 WSGI path (``gunicorn bot.wsgi:app``), kept for one release; use ``bot.web.wsgi``."""

from bot.web.wsgi import app

__all__ = ["app"]
