"""Security headers on every response.

The pages are plain HTML with one stylesheet and no scripts (see ``bot/web/public.py``), so
the Content Security Policy can forbid scripts, plugins, framing and foreign form targets
outright. The one exception is the dev-mode phone (``bot/web/devphone.py``): its page alone
allows ``script-src 'self'`` for one static file, nothing inline.
Headers a view set itself are left alone; the JSON API's CORS headers are not touched.
"""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'none'",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
HSTS = "max-age=31536000"


def headers(https: bool) -> dict[str, str]:
    values = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if https:
        values["Strict-Transport-Security"] = HSTS
    return values


def install(app: Flask, https: bool) -> None:
    values = headers(https)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in values.items():
            response.headers.setdefault(name, value)
        return response
