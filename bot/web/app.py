"""The Flask app factory. Building an app does no I/O: connections open on first use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from bot.config import Settings
from bot.ops import services as services_module
from bot.ops.services import Services


def create_app(config: Mapping[str, Any] | None = None, services: Services | None = None) -> Flask:
    settings = services.settings if services is not None else Settings.load(config)
    app = Flask(__name__, instance_path=settings.instance_path)
    services = services or Services(settings)
    services_module.install(services)
    app.extensions[services_module.EXTENSION] = services
    app.config.update(MAX_CONTENT_LENGTH=256 * 1024, **dict(settings.extra))
    # X-Forwarded-* are believed only from as many proxies as TRUSTED_PROXIES says: with
    # nothing in front (as under `ledgerbot up`) anyone could send them, and a forged
    # X-Forwarded-For would dodge the per-address login throttle.
    hops = settings.trusted_proxies
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from bot.ops import logs
    from bot.web import (
        api,
        devphone,
        errors,
        health,
        media,
        metrics,
        moderate,
        public,
        security,
        tlog,
        webhook,
    )
    from bot.web import auth as web_auth

    logs.configure_for(services)
    # Twilio's POSTs are signed by Twilio and carry no cookies: no CSRF token to check.
    web_auth.configure(app, services.secret_key, settings.public_https, exempt=(webhook.bp,))
    security.install(app, settings.public_https)
    errors.install(app)
    # The one table of what the app serves.
    table = (webhook.bp, health.bp, public.bp, api.bp, tlog.bp, moderate.bp, media.bp, metrics.bp)
    for blueprint in (*table, *devphone.blueprints(settings)):  # /dev/: dev mode or DEV_PHONE
        app.register_blueprint(blueprint)
    return app
