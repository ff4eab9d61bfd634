"""``ledgerbot doctor``: one line per check, OK / WARN / FAIL, exit 1 on any FAIL."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.messaging.models import OutboundMessage
from bot.ops import doctor
from bot.ops.services import Services
from ledger.db import transaction
from tests.support.settings import AUTH_TOKEN, SECRET_KEY
from tests.test_helpers import load_demo

CHECKS = [
    "twilio credentials",
    "sender numbers",
    "PUBLIC_URL",
    "SECRET_KEY",
    "LEDGER_SIGNING_KEY",
    "LOG_FORMAT",
    "DEV_PHONE",
    "media store",
    "database",
    "migrations",
    "outbound messages",
    "inbound messages",
    "twilio media",
    "ledger chain",
    "ledger tree",
    "redis",
    "queue",
]


def with_settings(services, **changes) -> Services:
    return Services(replace(services.settings, **changes), engine=services.engine)


def by_name(checks) -> dict[str, doctor.Check]:
    return {check.name: check for check in checks}


def run_cli(services):
    return CliRunner().invoke(cli, ["doctor"], obj=services)


def test_good_configuration_has_no_fail_and_exits_0(services):
    load_demo(services)
    checks = doctor.run(services)
    assert [check.name for check in checks] == CHECKS
    assert not doctor.failed(checks), [c.line() for c in checks if c.status == "FAIL"]
    found = by_name(checks)
    assert found["twilio credentials"].status == "OK"
    assert found["ledger chain"].status == "OK"
    assert found["migrations"].status == "OK"
    assert found["redis"].status == "OK"

    result = run_cli(services)
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert len(lines) == len(CHECKS) + 1
    assert all(line.split()[0] in {"OK", "WARN", "FAIL"} for line in lines[:-1])
    assert lines[-1].startswith(f"{len(CHECKS)} checks: 0 FAIL")
    assert AUTH_TOKEN not in result.output and SECRET_KEY not in result.output


def test_bad_account_sid_fails_and_exits_1(services):
    bad = with_settings(services, twilio_account_sid="AC123")
    try:
        result = run_cli(bad)
        assert result.exit_code == 1
        [line] = [line for line in result.stdout.splitlines() if "twilio credentials" in line]
        assert line.startswith("FAIL")
        assert "'AC' followed by 32 hex digits" in line
    finally:
        bad.close()


@pytest.mark.parametrize(
    ("changes", "name", "status", "words"),
    [
        (
            {"twilio_account_sid": None, "twilio_auth_token": None},
            "twilio credentials",
            "WARN",
            "dev mode",
        ),
        ({"twilio_auth_token": "not-a-token"}, "twilio credentials", "FAIL", "32 hex"),
        ({"twilio_sms_from": "whatsapp:+15005550006"}, "sender numbers", "FAIL", "E.164"),
        ({"twilio_whatsapp_from": "whatsapp:14155238886"}, "sender numbers", "FAIL", "whatsapp:+"),
        ({"moderator_numbers": ("5550000001",)}, "sender numbers", "FAIL", "MODERATOR_NUMBERS"),
        ({"public_url": "http://127.0.0.1:5000"}, "PUBLIC_URL", "WARN", "this machine only"),
        ({"public_url": "http://bot.example.org"}, "PUBLIC_URL", "FAIL", "not https"),
        ({"public_url": "bot.example.org"}, "PUBLIC_URL", "FAIL", "absolute URL"),
        ({"public_url": None}, "PUBLIC_URL", "FAIL", "unset"),
        ({"secret_key": None}, "SECRET_KEY", "WARN", "unset"),
        ({"log_format": "xml"}, "LOG_FORMAT", "WARN", "unknown"),
    ],
)
def test_configuration_problems(services, changes, name, status, words):
    other = with_settings(services, **changes)
    try:
        check = by_name(doctor.run(other))[name]
        assert check.status == status, check.line()
        assert words in check.detail
    finally:
        other.close()


def test_failed_sends_and_failed_jobs_warn(services):
    now = datetime.now(UTC)
    with transaction(services.sessions) as session:
        for key, status in (("a", "failed"), ("b", "unknown"), ("c", "queued")):
            session.add(
                OutboundMessage(
                    key=key,
                    channel="sms",
                    to_number="+15551234567",
                    body="x",
                    status=status,
                    created_at=now,
                    updated_at=now,
                )
            )
    registry = services.queue.failed_job_registry
    services.redis.zadd(registry.key, {"inbound-SMx": now.timestamp() + 3600})
    found = by_name(doctor.run(services))
    assert found["outbound messages"].status == "WARN"
    assert "1 failed, 1 unknown" in found["outbound messages"].detail
    assert found["queue"].status == "WARN"
    assert "1 jobs in the failed registry" in found["queue"].detail
    assert "+15551234567" not in " ".join(check.line() for check in found.values())


def test_redis_down_fails(services):
    down = with_settings(services, redis_url="redis://127.0.0.1:1/0")
    try:
        found = by_name(doctor.run(down))
        assert list(found) == CHECKS
        assert found["redis"].status == "FAIL"
        assert found["queue"].status == "WARN"
        assert run_cli(down).exit_code == 1
    finally:
        down.close()


def test_unmigrated_database_fails_and_a_missing_one_is_not_created(services, tmp_path):
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()
    unmigrated = Services(replace(services.settings, database_url=f"sqlite:///{empty}"))
    missing = tmp_path / "missing.sqlite3"
    absent = Services(replace(services.settings, database_url=f"sqlite:///{missing}"))
    try:
        found = by_name(doctor.run(unmigrated))
        assert list(found) == CHECKS
        assert found["database"].status == "OK"
        assert found["migrations"].status == "FAIL"
        assert "ledgerbot db upgrade" in found["migrations"].detail
        assert found["ledger chain"].status == "WARN"

        found = by_name(doctor.run(absent))
        assert list(found) == CHECKS
        assert found["database"].status == "FAIL"
        assert found["migrations"].status == "WARN"
        assert not missing.exists()
    finally:
        unmigrated.close()
        absent.close()


def test_unreachable_database_fails_without_printing_its_password(services):
    url = "postgresql://ledger:hunter2hunter2@127.0.0.1:1/ledger"
    down = Services(replace(services.settings, database_url=url))
    try:
        result = run_cli(down)
        assert result.exit_code == 1
        [line] = [line for line in result.stdout.splitlines() if line.split()[1] == "database:"]
        assert line.startswith("FAIL") and "127.0.0.1:1" in line
        assert "hunter2" not in result.output
    finally:
        down.close()


def test_a_bad_configuration_value_is_one_failed_check(tmp_path):
    """Settings are checked at start, so the doctor reports that check in its own format."""
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "LOG_FORMAT": "xml", "INSTANCE_PATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "doctor"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == (
        "FAIL  configuration: LOG_FORMAT must be one of text, json (got 'xml')"
    )
    assert "Traceback" not in done.stderr


def test_the_web_server_refuses_a_bad_value_in_one_line(tmp_path):
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "RATE_LIMIT_WINDOW_S": "0", "INSTANCE_PATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", "import bot.web.wsgi"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "ledgerbot: configuration: RATE_LIMIT_WINDOW_S must be a whole number from 1 to 604800"
        " (got '0')"
    ]


def test_ledger_key_and_tree_checks(services, tmp_path):
    """Unset key: WARN, with the generated key's verifier key shown (never the private key);
    a tree whose latest checkpoint another key signed: FAIL; a good one: OK."""
    from bot.worker.checkpointer import checkpoint_once
    from ledger.checkpoints import LogKey
    from ledger.tlog.notes import Signer, generate_signing_key

    load_demo(services)
    found = by_name(doctor.run(services))
    assert found["LEDGER_SIGNING_KEY"].status == "WARN"
    assert found["ledger tree"].status == "WARN"  # nothing signed yet
    assert "no checkpoint" in found["ledger tree"].detail
    checkpoint_once(services)
    found = by_name(doctor.run(services))
    assert found["ledger tree"].status == "OK", found["ledger tree"].detail
    vkey = services.log_key.vkey
    assert vkey in found["LEDGER_SIGNING_KEY"].detail
    assert "PRIVATE" not in found["LEDGER_SIGNING_KEY"].detail

    skey = generate_signing_key("someone-else")
    configured = with_settings(services, ledger_signing_key=skey)
    found = by_name(doctor.run(configured))
    assert found["LEDGER_SIGNING_KEY"].status == "OK"
    assert found["ledger tree"].status == "FAIL"  # checkpoints were signed by another key
    assert "not signed by" in found["ledger tree"].detail
    assert skey not in "\n".join(c.line() for c in doctor.run(configured))

    # And a process so misconfigured refuses to sign for the log at all.
    from ledger.chain import append
    from ledger.checkpoints import KeyMismatch, sign_head
    from ledger.db import transaction

    with pytest.raises(KeyMismatch), transaction(services.sessions) as session:
        append(session, "claim", "semax-demo", {"text": "more"})
        sign_head(session, LogKey(Signer.from_skey(skey), services.log_key.origin))
    other_origin = with_settings(services, public_url="https://elsewhere.example")
    found = by_name(doctor.run(other_origin))
    assert found["ledger tree"].status == "FAIL" and "origin" in found["ledger tree"].detail


def test_dev_phone_with_twilio_configured_warns(services):
    found = by_name(doctor.run(with_settings(services, dev_phone=True)))
    assert found["DEV_PHONE"].status == "WARN" and "really sent" in found["DEV_PHONE"].detail
    assert by_name(doctor.run(services))["DEV_PHONE"].status == "OK"
