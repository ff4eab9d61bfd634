"""Checks of the configuration alone: credentials, numbers, URLs, secrets, log format."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from bot.messaging.addresses import AddressError, parse_address
from bot.ops.doctor.checks import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FAIL,
    LOCAL_HOSTS,
    LOG_FORMATS,
    OK,
    WARN,
    Check,
    is_production,
    worst,
)

# --------------------------------------------------------------------------- configuration


def check_twilio_credentials(settings) -> Check:
    name = "twilio credentials"
    sid, token = settings.twilio_account_sid, settings.twilio_auth_token
    if not sid and not token:
        return Check(
            name,
            WARN,
            "dev mode: replies are logged, not sent; set TWILIO_ACCOUNT_SID and "
            "TWILIO_AUTH_TOKEN (Twilio console, Account info) to send",
        )
    problems: list[tuple[str, str]] = []
    if not sid:
        problems.append(
            (
                WARN,
                "TWILIO_AUTH_TOKEN is set but TWILIO_ACCOUNT_SID is not: signatures are "
                "checked but replies are only logged; set TWILIO_ACCOUNT_SID to send",
            )
        )
    elif not ACCOUNT_SID.fullmatch(sid):
        problems.append(
            (
                FAIL,
                "TWILIO_ACCOUNT_SID is not 'AC' followed by 32 hex digits; copy the Account "
                "SID from the Twilio console (not an API key SK… or a message SID)",
            )
        )
    if not token:
        problems.append(
            (
                FAIL,
                "TWILIO_ACCOUNT_SID is set but TWILIO_AUTH_TOKEN is not: replies cannot be "
                "sent and webhooks are checked against a local token; set TWILIO_AUTH_TOKEN",
            )
        )
    elif not AUTH_TOKEN.fullmatch(token):
        problems.append(
            (
                FAIL,
                f"TWILIO_AUTH_TOKEN is not 32 hex digits (it has {len(token)} characters); "
                "copy the Auth Token from the Twilio console, without quotes or spaces",
            )
        )
    if not problems:
        return Check(name, OK, f"account {sid[:6]}…, auth token set (32 hex digits)")
    return Check(name, worst([s for s, _ in problems]), "; ".join(d for _, d in problems))


def check_senders(settings) -> Check:
    name = "sender numbers"
    problems: list[str] = []
    sms, whatsapp = settings.twilio_sms_from, settings.twilio_whatsapp_from
    if sms:
        try:
            channel, _ = parse_address(sms)
        except AddressError:
            channel = None
        if channel != "sms":
            problems.append(f"TWILIO_SMS_FROM={sms!r} is not an E.164 number like +15005550006")
    if whatsapp:
        try:
            parse_address(whatsapp)
        except AddressError:
            problems.append(f"TWILIO_WHATSAPP_FROM={whatsapp!r} is not like whatsapp:+14155238886")
    bad_moderators = 0
    for number in settings.moderator_numbers:
        try:
            parse_address(number)
        except AddressError:
            bad_moderators += 1
    if bad_moderators:
        problems.append(
            f"MODERATOR_NUMBERS has {bad_moderators} entries that are not E.164 numbers "
            "(+ and digits, comma-separated), so they never match a sender"
        )
    if problems:
        return Check(name, FAIL, "; ".join(problems))
    parts = [
        f"SMS from {sms}" if sms else "SMS from the number written to",
        f"WhatsApp from {whatsapp}" if whatsapp else "WhatsApp from the number written to",
    ]
    if settings.moderator_numbers:
        parts.append(f"{len(settings.moderator_numbers)} moderator numbers")
    return Check(name, OK, ", ".join(parts))


def check_public_url(settings) -> Check:
    name = "PUBLIC_URL"
    url = settings.public_url
    production = is_production(settings)
    if not url:
        if production:
            return Check(
                name,
                FAIL,
                "unset: no delivery status callbacks, and signatures depend on the proxy's "
                "X-Forwarded-* headers; set it to the external https:// base URL",
            )
        return Check(name, WARN, "unset: fine on one machine; set it to the external https:// URL")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        return Check(name, FAIL, f"{url!r} is not an absolute URL like https://bot.example.org")
    if parts.query or parts.fragment:
        return Check(name, FAIL, "must not have a query or fragment; use the bare base URL")
    if host in LOCAL_HOSTS:
        return Check(
            name,
            WARN,
            f"{url} is this machine only: Twilio cannot reach it; use the external https:// URL",
        )
    if parts.scheme != "https":
        return Check(
            name,
            FAIL if production else WARN,
            "not https: Twilio's signatures and moderator logins would travel in the clear; "
            "terminate TLS in front of the bot and use https://",
        )
    if parts.path not in ("", "/"):
        return Check(
            name,
            WARN,
            f"has a path ({parts.path}); webhooks are signed for {url.rstrip('/')}/twilio/… "
            "so the proxy must strip that prefix",
        )
    return Check(name, OK, f"{url} (webhook {url.rstrip('/')}/twilio/messages)")


def check_secret_key(settings) -> Check:
    name = "SECRET_KEY"
    if not settings.secret_key:
        generated = Path(settings.instance_path) / "secret_key"
        where = f"generated in {generated}" if generated.exists() else "will be generated"
        return Check(
            name,
            WARN,
            f"unset ({where}): pseudonyms and sessions depend on it, so set SECRET_KEY on every "
            "machine and never change it",
        )
    if len(settings.secret_key) < 32:
        return Check(
            name,
            WARN,
            f"only {len(settings.secret_key)} characters; use at least 32 random ones "
            "(python -c 'import secrets; print(secrets.token_hex(32))') before going live — "
            "changing it later changes every pseudonym",
        )
    return Check(name, OK, "set")


def check_log_format(settings) -> Check:
    if settings.log_format.lower() in LOG_FORMATS:
        return Check("LOG_FORMAT", OK, settings.log_format)
    return Check(
        "LOG_FORMAT", WARN, f"{settings.log_format!r} is unknown, logging as text; use text or json"
    )


def check_dev_phone(settings) -> Check:
    """The dev phone lets whoever opens it text the bot as any number: fine on a laptop."""
    if not settings.twilio_configured:
        return Check("DEV_PHONE", OK, "dev mode: the dev phone is at /dev/phone")
    if getattr(settings, "dev_phone", False):
        return Check(
            "DEV_PHONE",
            WARN,
            "on with Twilio configured: anyone who can open /dev/phone can text the bot as any "
            "number, and its replies are really sent; unset DEV_PHONE in production",
        )
    return Check("DEV_PHONE", OK, "off (Twilio is configured)")


def check_media_dir(settings) -> Check:
    """The media store must be a writable directory on every web and worker machine."""
    import os

    path = settings.resolved_media_dir
    where = "MEDIA_DIR" if settings.media_dir else "<instance>/media (set MEDIA_DIR for a volume)"
    if path.exists() and not path.is_dir():
        return Check("media store", FAIL, f"{path} is not a directory ({where})")
    probe = path if path.exists() else path.parent
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        return Check("media store", FAIL, f"{path} is not writable by this user ({where})")
    state = "" if path.exists() else "; created on the first file"
    return Check("media store", OK, f"{path}{state} ({where})")
