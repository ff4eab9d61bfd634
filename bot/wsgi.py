"""WSGI entry point for gunicorn and other servers: ``gunicorn bot.wsgi:app``."""

from bot.app import create_app

app = create_app()
