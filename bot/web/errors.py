"""App-wide errors: JSON under ``/api/``, the site's own page elsewhere, plain text for Twilio.

Registered on the app, not on one blueprint, so a URL no blueprint knows still gets the
right shape.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, render_template, request

from bot.web.api import error_response


def not_found(error):
    """Unknown URLs anywhere: JSON under /api/, the site's own page elsewhere."""
    if request.path.startswith("/api/"):
        return error_response(404, "not_found", "no such resource")
    return render_template("error.html", title="Not found", message=error.description), 404


def method_not_allowed(error):
    if request.path.startswith("/api/"):
        response = error_response(405, "method_not_allowed", "the API is read-only: use GET")
    else:
        response = current_app.make_response(
            (render_template("error.html", title="Method not allowed", message=""), 405)
        )
    response.headers["Allow"] = ", ".join(error.valid_methods or ())
    return response


def too_large(_error):
    return Response("request too large\n", status=413, mimetype="text/plain")


HANDLERS = {404: not_found, 405: method_not_allowed, 413: too_large}


def install(app: Flask) -> None:
    for code, handler in HANDLERS.items():
        app.register_error_handler(code, handler)
