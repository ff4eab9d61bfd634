"""Security headers on every response, without breaking the API's CORS."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from bot.ops.services import Services, install
from bot.web.app import create_app
from bot.web.security import CONTENT_SECURITY_POLICY
from tests.support.messaging import inbound_params, post_signed
from tests.test_helpers import load_demo

TEMPLATES = Path(__file__).resolve().parents[2] / "bot" / "web" / "templates"
EXPECTED = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; style-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000",
}


def assert_secure(response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (name, response.request.path)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/a/semax", 200),
        ("/a/no-such-article", 404),
        ("/ledger", 200),
        ("/moderate/login", 200),
        ("/static/style.css", 200),
        ("/api/articles", 200),
        ("/api/no-such-thing", 404),
        ("/healthz", 200),
        ("/metrics", 200),
    ],
)
def test_every_page_has_the_headers(services, client, path, status):
    load_demo(services)
    response = client.get(path)
    assert response.status_code == status
    assert_secure(response)
    if path.startswith("/api/"):
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_webhook_responses_have_them_too(services, client):
    response = post_signed(client, inbound_params("+15551234567", "HELP"))
    assert response.status_code == 200
    assert_secure(response)
    refused = client.post("/twilio/messages", data=inbound_params("+15551234567", "HELP"))
    assert refused.status_code == 403
    assert_secure(refused)


def test_no_hsts_without_https(services):
    plain = Services(replace(services.settings, public_url="http://127.0.0.1:5000"))
    try:
        response = create_app(services=plain).test_client().get("/healthz")
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Strict-Transport-Security" not in response.headers
    finally:
        plain.close()
        install(services)


def test_templates_need_nothing_the_policy_forbids():
    """No inline scripts, styles, event handlers or javascript: URLs (CSP would block them).

    The one script anywhere is the dev phone's, a static file with nothing inline (its page
    alone allows ``script-src 'self'``; every other page keeps ``'none'``)."""
    assert "script-src 'none'" in CONTENT_SECURITY_POLICY
    forbidden = re.compile(r"<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.I)
    script = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.I | re.S)
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert templates
    for template in templates:
        text = template.read_text(encoding="utf-8")
        assert not forbidden.search(text), template.name
        scripts = script.findall(text)
        assert text.lower().count("<script") == len(scripts), template.name
        for attrs, body in scripts:
            assert template.name == "devphone.html" and "src=" in attrs and not body.strip()


def test_public_responses_do_not_vary_on_the_session_cookie(client):
    """Caches and CDNs may share public pages: nothing public reads the moderator session."""
    for path in ("/healthz", "/api/articles", "/api/ledger", "/", "/ledger"):
        response = client.get(path)
        assert "Cookie" not in response.headers.get("Vary", ""), path
        assert "Set-Cookie" not in response.headers, path


@pytest.mark.parametrize("public_url", ["HTTPS://bot.example.org", "https://BOT.example.org/"])
def test_an_https_public_url_in_any_case_turns_on_hsts_and_secure_cookies(services, public_url):
    """`PUBLIC_URL=HTTPS://…` once turned on HSTS but left the session cookie without Secure."""
    https = Services(replace(services.settings, public_url=public_url), engine=services.engine)
    try:
        app = create_app(services=https)
        response = app.test_client().get("/moderate/login")
        assert "Strict-Transport-Security" in response.headers
        assert app.config["SESSION_COOKIE_SECURE"] is True
        assert "Secure" in response.headers.get("Set-Cookie", "")
    finally:
        https.close()
        install(services)
