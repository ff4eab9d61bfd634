"""Structured logs: every line on a message's path names its MessageSid (and in workers its
RQ job id); phone numbers appear only masked and secrets never."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.config import Settings
from bot.ops import logs
from tests.support.messaging import drain, inbound_params, post_signed
from tests.support.settings import AUTH_TOKEN, SECRET_KEY
from tests.test_helpers import load_demo

NUMBER = "+15551234567"


@pytest.fixture
def captured(services, app):
    """Formatted JSON lines as they would reach stderr (the app installed its handler)."""
    stream = io.StringIO()
    logs.configure(json=True, stream=stream, secrets=logs.secrets_of(services))
    yield stream
    logs.configure()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_message_sid_and_job_id_and_no_secrets(services, client, twilio, captured):
    load_demo(services)
    params = inbound_params(NUMBER, "semax|does it raise BDNF in people?")
    sid = params["MessageSid"]
    assert post_signed(client, params).status_code == 200
    drain(services)
    [sent] = twilio.wait_for(count=1)

    records = lines(captured)
    for record in records:
        assert set(record) >= {"ts", "level", "logger", "msg", "message_sid", "job_id"}
        assert record["ts"].endswith("Z")

    stored = [r for r in records if r["logger"] == "bot.web.webhook" and "stored" in r["msg"]]
    assert len(stored) == 1
    assert stored[0]["message_sid"] == sid and stored[0]["job_id"] is None
    assert "+1555•••4567" in stored[0]["msg"]

    handled = [
        r for r in records if r["logger"] == "bot.worker.inbound" and "handled as" in r["msg"]
    ]
    assert len(handled) == 1
    assert handled[0]["message_sid"] == sid
    assert handled[0]["job_id"] == f"inbound-{sid}"

    sends = [r for r in records if r["logger"] == "bot.worker.sending" and "sent to" in r["msg"]]
    assert len(sends) == 1
    assert sends[0]["message_sid"] == sid
    assert sends[0]["job_id"] == f"inbound-{sid}"  # the reply goes out from the message's job
    assert sent["sid"] in sends[0]["msg"]

    # Outside a request or a job, nothing is bound.
    logging.getLogger("bot.test").info("after the job")
    assert lines(captured)[-1]["message_sid"] is None
    assert lines(captured)[-1]["job_id"] is None

    text = captured.getvalue()
    assert NUMBER not in text and NUMBER[1:] not in text
    assert AUTH_TOKEN not in text and SECRET_KEY not in text


def test_bad_signature_line_names_the_sid_it_claimed(services, client, captured):
    params = inbound_params(NUMBER, "HELP")
    response = client.post("/twilio/messages", data=params, headers={"X-Twilio-Signature": "x"})
    assert response.status_code == 403
    [rejected] = [r for r in lines(captured) if "bad signature" in r["msg"]]
    assert rejected["message_sid"] == params["MessageSid"]
    assert rejected["level"] == "WARNING"


def test_safety_net_masks_numbers_and_removes_secrets_whatever_is_logged(captured):
    log = logging.getLogger("bot.careless")
    log.info("texting %s and whatsapp:%s", NUMBER, "+447700900123")
    log.warning("token %s key %s", AUTH_TOKEN, SECRET_KEY)
    log.error(
        "db at postgresql://ledger:hunter2hunter2@db.internal/ledger, form From=%2B15551234567"
    )
    try:
        raise ValueError(f"could not send to {NUMBER}")
    except ValueError:
        log.exception("failed")
    text = captured.getvalue()
    assert NUMBER not in text and "5551234567" not in text and "447700900123" not in text
    assert AUTH_TOKEN not in text and SECRET_KEY not in text and "hunter2" not in text
    records = lines(captured)
    assert records[0]["msg"] == "texting +1555•••4567 and whatsapp:+4477•••0123"
    assert records[1]["msg"] == "token [redacted] key [redacted]"
    assert "postgresql://ledger:***@db.internal/ledger" in records[2]["msg"]
    assert "ValueError: could not send to +1555•••4567" in records[3]["exc"]


def test_text_format_names_sid_and_job():
    stream = io.StringIO()
    logs.configure(json=False, stream=stream)
    try:
        with logs.context(message_sid="SM123", job_id="inbound-SM123"):
            logging.getLogger("bot.test").info("hello %s", NUMBER)
        logging.getLogger("bot.test").info("outside")
    finally:
        logs.configure()
    first, second = stream.getvalue().splitlines()
    assert first.endswith("INFO bot.test [sid=SM123 job=inbound-SM123] hello +1555•••4567")
    assert second.endswith("[sid=- job=-] outside")


def test_only_sane_message_sids_are_bound():
    with logs.context(message_sid="SM\nforged line"):
        assert logs.message_sid_var.get() is None
    with logs.context(message_sid="SM" + "a" * 32):
        assert logs.message_sid_var.get() == "SM" + "a" * 32
    assert logs.message_sid_var.get() is None


def test_log_format_comes_from_the_environment():
    assert Settings.load(env={}).log_format == "text"
    assert Settings.load(env={"LOG_FORMAT": "json"}).log_format == "json"
