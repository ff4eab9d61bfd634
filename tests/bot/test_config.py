"""Configuration: every bad value stops the process at start, naming the variable and the rule."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import pytest

from bot.config import PARSERS, ConfigError, Settings


def test_the_prefixed_spelling_wins_when_both_are_set():
    env = {"QUEUE_NAME": "short", "LEDGERBOT_QUEUE_NAME": "prefixed"}
    assert Settings.load(env=env).queue_name == "prefixed"
    assert Settings.load(env={"QUEUE_NAME": "short"}).queue_name == "short"
    assert Settings.load(env={"LEDGERBOT_QUEUE_NAME": "prefixed"}).queue_name == "prefixed"


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("RATE_LIMIT_COUNT", "twenty", "RATE_LIMIT_COUNT must be a whole number from 1"),
        ("RATE_LIMIT_WINDOW_S", "0", "RATE_LIMIT_WINDOW_S must be a whole number from 1"),
        ("RATE_LIMIT_WINDOW_S", "-5", "RATE_LIMIT_WINDOW_S must be"),
        ("RATE_LIMIT_WINDOW_S", "1.5", "RATE_LIMIT_WINDOW_S must be"),
        ("MAX_SEGMENTS", "0", "MAX_SEGMENTS must be a whole number from 1 to 10"),
        ("TWILIO_TIMEOUT_S", "nan", "TWILIO_TIMEOUT_S must be a number of seconds"),
        ("TWILIO_TIMEOUT_S", "0", "TWILIO_TIMEOUT_S must be"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of text, json"),
        ("PUBLIC_URL", "bot.example.org", "PUBLIC_URL must be a URL starting http:// or https://"),
        ("PUBLIC_URL", "ftp://bot.example.org", "PUBLIC_URL must be a URL"),
        ("TWILIO_API_URL", "https://", "TWILIO_API_URL must be a URL"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must be a URL starting redis://"),
        ("DATABASE_URL", "mysql://db/x", "DATABASE_URL must be a URL starting sqlite://"),
        ("MODERATOR_NUMBERS", "+15550000001,5550000002", "MODERATOR_NUMBERS must be"),
        ("TWILIO_SMS_FROM", "whatsapp:+15005550006", "TWILIO_SMS_FROM must be a number like"),
        ("TWILIO_WHATSAPP_FROM", "+14155238886", "TWILIO_WHATSAPP_FROM must be a number like"),
        ("QUEUE_NAME", "a queue", "QUEUE_NAME must be 1 to 64 letters"),
        ("LEDGERBOT_RATE_LIMIT_WINDOW_S", "0", "LEDGERBOT_RATE_LIMIT_WINDOW_S must be"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_is_allowed(variable, value, words):
    with pytest.raises(ConfigError) as caught:
        Settings.load(env={variable: value})
    assert words in str(caught.value)


def test_a_database_password_is_never_echoed_in_the_error():
    with pytest.raises(ConfigError) as caught:
        Settings.load(env={"DATABASE_URL": "mysql://user:hunter2secret@db/x"})
    assert "hunter2secret" not in str(caught.value)


def test_good_values_are_parsed():
    settings = Settings.load(
        env={
            "RATE_LIMIT_WINDOW_S": " 60 ",
            "TWILIO_TIMEOUT_S": "2.5",
            "LOG_FORMAT": "JSON",
            "MODERATOR_NUMBERS": "+15550000001; whatsapp:+15550000002, +1 (555) 000-0001",
            "REDIS_URL": "unix:///run/redis.sock?db=2",
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
        }
    )
    assert settings.rate_limit_window_s == 60 and settings.twilio_timeout_s == 2.5
    assert settings.log_format == "json"
    assert settings.moderator_numbers == ("+15550000001", "+15550000002")


def test_every_typed_setting_has_a_rule():
    """A new int, float or URL setting cannot slip in unchecked."""
    typed = {f.name for f in fields(Settings) if f.type in ("int", "float")}
    typed |= {f.name for f in fields(Settings) if f.name.endswith("_url")}
    assert typed <= set(PARSERS), typed - set(PARSERS)


def test_a_command_started_with_a_bad_value_says_one_line_and_exits_1(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "RATE_LIMIT_WINDOW_S": "0", "INSTANCE_PATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "RATE_LIMIT_WINDOW_S must be a whole number from 1" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_redis_key_prefix_carries_the_queue_name():
    assert Settings.load(env={"QUEUE_NAME": "prod"}).redis_key("rl", "x") == "ledgerbot:prod:rl:x"


def test_database_urls_without_a_host_are_fine():
    """PostgreSQL over its local socket (common on Debian) names no host."""
    for url in ("postgresql:///ledgerbot", "postgresql://u@/db?host=/run/postgresql"):
        assert Settings.load(env={"DATABASE_URL": url}).database_url == url


def test_sender_numbers_are_stored_as_twilio_expects_them():
    settings = Settings.load(
        env={
            "TWILIO_WHATSAPP_FROM": "WhatsApp: +1 415 523 8886",
            "TWILIO_SMS_FROM": "+1 (500) 555-0006",
        }
    )
    assert settings.twilio_whatsapp_from == "whatsapp:+14155238886"
    assert settings.twilio_sms_from == "+15005550006"


def test_a_bad_moderator_number_is_not_echoed_whole():
    with pytest.raises(ConfigError) as caught:
        Settings.load(env={"MODERATOR_NUMBERS": "+15557776001,555"})
    assert "5557776001" not in str(caught.value)
