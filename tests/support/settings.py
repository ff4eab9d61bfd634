"""The test deployment's settings and how to sign as its Twilio account.

Kept out of conftest.py so that support code and test modules import them from here
(importing conftest itself would load it a second time under another name).
"""

from __future__ import annotations

from pathlib import Path

from twilio.request_validator import RequestValidator

from bot.config import Settings

PUBLIC_URL = "https://bot.example.test"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
ACCOUNT_SID = "AC" + "1" * 32
BOT_NUMBER = "+15005550006"
WHATSAPP_NUMBER = "+14155238886"
SECRET_KEY = "test-secret-key"


def make_settings(tmp_path: Path, database_url: str, redis_url: str, twilio_url: str, **extra):
    values = {
        "instance_path": str(tmp_path / "instance"),
        "database_url": database_url,
        "redis_url": redis_url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_sms_from": BOT_NUMBER,
        "twilio_whatsapp_from": "whatsapp:" + WHATSAPP_NUMBER,
        "twilio_api_url": twilio_url,
        "twilio_timeout_s": 2.0,
        "public_url": PUBLIC_URL,
        "moderator_numbers": ("+15550000001",),
        "secret_key": SECRET_KEY,
        "queue_name": "ledgerbot-test",
    }
    values.update(extra)
    return Settings.load(values, env={})


def sign(
    params: dict, path: str = "/twilio/messages", token: str = AUTH_TOKEN, base: str = PUBLIC_URL
) -> str:
    return RequestValidator(token).compute_signature(base + path, params)
