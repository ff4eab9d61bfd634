"""The Flask app factory. Building an app does no I/O: connections open on first use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from bot import services as services_module
from bot.config import Settings
from bot.services import Services


def create_app(config: Mapping[str, Any] | None = None, services: Services | None = None) -> Flask:
    settings = services.settings if services is not None else Settings.load(config)
    app = Flask(__name__, instance_path=settings.instance_path)
    services = services or Services(settings)
    services_module.install(services)
    app.extensions["ledgerbot"] = services
    app.config.update(MAX_CONTENT_LENGTH=256 * 1024, **dict(settings.extra))
    # One proxy hop (the usual TLS terminator): URLs and client addresses match the outside.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    from bot import api, health, logs, metrics, moderate, public, security, web_auth, webhook

    logs.configure_for(services)
    web_auth.configure(app, services.secret_key, settings.public_url)
    security.install(app, settings.public_url)

    app.register_blueprint(webhook.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(moderate.bp)
    app.register_blueprint(metrics.bp)

    @app.errorhandler(413)
    def too_large(_error):
        return Response("request too large\n", status=413, mimetype="text/plain")

    return app
