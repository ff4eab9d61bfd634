"""Moderator web sessions: Flask-Login over server-side session records, CSRF, a login limit.

Logins are Flask-Login's, with its "alternative tokens" pattern: the signed cookie (SECRET_KEY;
HttpOnly, SameSite=Lax, Secure behind HTTPS) holds a random token that names a row of
``moderator_sessions``, and the user loader looks that row up with its account on every
request. So logging out (the row is deleted), ``ledgerbot moderators remove`` (the account is
inactive) or a new password ends a session at its very next request, and the 8-hour absolute
limit is checked against the row's ``created_at``, not anything the browser sends. The
30-minute idle limit is the cookie signature's own timestamp: Flask refuses a session cookie
not re-signed within PERMANENT_SESSION_LIFETIME, and re-signs it on every request.

CSRF is Flask-WTF's CSRFProtect rather than our own tokens: it checks every POST of the app
by default (a new form cannot forget it), its signed, time-limited tokens are maintained and
reviewed by others, and exemptions are explicit — only the Twilio webhook, whose POSTs carry
no cookies and are signed by Twilio instead. Its HTTPS Referer check is off because every
page is served with ``Referrer-Policy: no-referrer`` (browsers then send neither Referer nor
a real Origin); SameSite=Lax cookies plus the token cover what it would add. A refused form
answers 400 with the site's own error page.

Failed logins are counted in Redis per client address, per name and in all (LOGIN_LIMITS per
15 minutes), so guessing is throttled across all web processes; the client address is the
socket's unless TRUSTED_PROXIES says how many proxies' X-Forwarded-For to believe.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import redis
from flask import Blueprint, Flask, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from bot.moderation.accounts import (
    WEB_SESSION_LIFETIME,
    close_web_session,
    find_web_session,
    open_web_session,
)
from bot.moderation.models import ModeratorAccount
from bot.ops.services import current as current_services
from ledger.db import transaction

IDLE_TIMEOUT_S = 30 * 60
LOGIN_WINDOW_S = 15 * 60
CSRF_REFUSED = "The form expired or did not come from this site; reload the page and try again."


class WebModerator(UserMixin):
    """The logged-in moderator of this request; ``get_id`` is the session token, not the
    account id, so Flask-Login's cookie names a revocable session rather than a person."""

    def __init__(self, token: str, account: ModeratorAccount) -> None:
        self.token = token
        self.account_id = account.id
        self.username = account.username or "?"

    def get_id(self) -> str:
        return self.token


def configure(app: Flask, secret_key: str, https: bool, exempt: Iterable[Blueprint] = ()) -> None:
    """Session cookie settings, Flask-Login and CSRFProtect; ``exempt``: blueprints whose
    POSTs do not come from a browser form (they authenticate otherwise)."""
    app.secret_key = secret_key
    app.config.update(
        SESSION_COOKIE_NAME="ledgerbot_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        PERMANENT_SESSION_LIFETIME=IDLE_TIMEOUT_S,
        SESSION_REFRESH_EACH_REQUEST=True,
        WTF_CSRF_SSL_STRICT=False,  # see the module docstring: no Referer is ever sent
        WTF_CSRF_TIME_LIMIT=int(WEB_SESSION_LIFETIME.total_seconds()),
    )
    logins = LoginManager()
    logins.session_protection = None  # the server-side record is the protection
    logins.user_loader(_load_moderator)
    logins.unauthorized_handler(_to_login)
    # No current_user in every template: public pages then never touch the session.
    logins.init_app(app, add_context_processor=False)
    # Flask-Login's remember-me hook reads the session after every request, which makes every
    # public response (pages, API, webhook) "Vary: Cookie" and uncacheable. We issue no
    # remember-me cookies, so the hook has nothing to do.
    app.after_request_funcs[None].remove(logins._update_remember_cookie)
    csrf = CSRFProtect(app)
    for blueprint in exempt:
        csrf.exempt(blueprint)
    app.register_error_handler(CSRFError, _csrf_refused)


def _load_moderator(token: str) -> WebModerator | None:
    if not isinstance(token, str) or len(token) > 128:
        return None
    with current_services().read_sessions() as db:
        account = find_web_session(db, token, datetime.now(UTC))
    return None if account is None else WebModerator(token, account)


def _to_login():
    """Not logged in: to the login page, coming back here afterwards (GET pages only)."""
    target = request.path if request.method == "GET" else None
    return redirect(url_for("moderate.login", next=target))


def _csrf_refused(error: CSRFError):
    message = f"{CSRF_REFUSED} ({error.description})"
    return render_template("error.html", title="Form refused", message=message), 400


def log_in(account: ModeratorAccount) -> None:
    """A new session on every login (no fixation): the old cookie's contents, its CSRF token
    and any server-side session it named are dropped first."""
    log_out()
    session.permanent = True
    with transaction(current_services().sessions) as db:
        token = open_web_session(db, account, datetime.now(UTC))
    login_user(WebModerator(token, account))


def log_out() -> None:
    token = session.get("_user_id")
    if isinstance(token, str):
        with transaction(current_services().sessions) as db:
            close_web_session(db, token)
    logout_user()
    session.clear()


def current_moderator() -> str | None:
    return current_user.username if current_user.is_authenticated else None


def safe_next(target: str | None) -> str | None:
    """Only ever back into /moderate on this site: no other host, no scheme tricks."""
    if not target or not target.startswith("/moderate") or "//" in target or "\\" in target:
        return None
    if not target.isascii() or any(ch < " " or ch == "\x7f" for ch in target):
        return None  # CR/LF would split the Location header: a 500, or worse
    return target


# Failed logins allowed per window: from one address, against one name, and in all. The
# name limit lets an attacker delay one moderator's login, never guess it; the global one
# stops guessing spread over many addresses.
LOGIN_LIMITS = {"address": 10, "name": 10, "all": 200}


def _throttle_keys(username: str) -> dict[str, str]:
    settings = current_services().settings
    return {
        "address": settings.redis_key("login-failures", "address", request.remote_addr or "-"),
        "name": settings.redis_key("login-failures", "name", username.casefold()[:64]),
        "all": settings.redis_key("login-failures", "all"),
    }


def login_blocked(username: str) -> bool:
    """Over any of the limits: refused before the password is even checked."""
    keys = _throttle_keys(username)
    try:
        counts = current_services().redis.mget(list(keys.values()))
    except redis.RedisError:
        return False  # the password check still stands; do not lock everyone out
    return any(int(n or 0) >= LOGIN_LIMITS[kind] for kind, n in zip(keys, counts, strict=True))


def record_failure(username: str) -> None:
    try:
        pipe = current_services().redis.pipeline()
        for key in _throttle_keys(username).values():
            # The window starts at the first failure; later ones do not push it back.
            pipe.set(key, 0, ex=LOGIN_WINDOW_S, nx=True)
            pipe.incr(key)
        pipe.execute()
    except redis.RedisError:
        pass
