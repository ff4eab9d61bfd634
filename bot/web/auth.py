"""Moderator web sessions: login, expiry, CSRF tokens and a login rate limit.

Sessions live in Flask's signed cookie (SECRET_KEY): HttpOnly, SameSite=Lax, Secure behind
HTTPS, idle-expiring after 30 minutes and never living past 8 hours. Every form carries a
per-session CSRF token. Failed logins are counted in Redis per client address and name, so
guessing is throttled across all web processes.
"""

from __future__ import annotations

import functools
import hmac
import secrets
import time
from datetime import timedelta

import redis
from flask import abort, redirect, request, session, url_for

from bot.ops.services import current as current_services

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT_S = 8 * 3600
LOGIN_FAILURES_ALLOWED = 5
LOGIN_WINDOW_S = 15 * 60


def configure(app, secret_key: str, public_url: str | None) -> None:
    app.secret_key = secret_key
    app.config.update(
        SESSION_COOKIE_NAME="ledgerbot_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(public_url and public_url.startswith("https://")),
        PERMANENT_SESSION_LIFETIME=IDLE_TIMEOUT,
        SESSION_REFRESH_EACH_REQUEST=True,
    )


def log_in(moderator_id: int, username: str) -> None:
    session.clear()
    session.permanent = True
    session.update(
        moderator_id=moderator_id,
        username=username,
        logged_in_at=int(time.time()),
        csrf=secrets.token_urlsafe(32),
    )


def current_moderator() -> str | None:
    if "moderator_id" not in session:
        return None
    if time.time() - session.get("logged_in_at", 0) > ABSOLUTE_TIMEOUT_S:
        session.clear()
        return None
    return session.get("username")


def login_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_moderator() is None:
            return redirect(url_for("moderate.login", next=request.path))
        return view(*args, **kwargs)

    return wrapper


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(400, "The form expired or did not come from this site; reload and try again.")


def _limit_key(username: str) -> str:
    return f"ledgerbot:login-failures:{request.remote_addr}:{username.lower()[:64]}"


def login_blocked(username: str) -> bool:
    services = current_services()
    try:
        failures = int(services.redis.get(_limit_key(username)) or 0)
    except redis.RedisError:
        return False  # the password check still stands; do not lock everyone out
    return failures >= LOGIN_FAILURES_ALLOWED


def record_failure(username: str) -> None:
    services = current_services()
    try:
        pipe = services.redis.pipeline()
        pipe.incr(_limit_key(username))
        pipe.expire(_limit_key(username), LOGIN_WINDOW_S)
        pipe.execute()
    except redis.RedisError:
        pass
