"""A captured, signed webhook cannot be replayed as a new message by re-cutting its form.

Twilio signs the URL plus every name and value joined without separators, so moving bytes
across a name/value boundary keeps the signature valid. An outside attack turned one captured
SMS into two more stored messages, replies and ledger entries that way.
"""

from __future__ import annotations

import uuid

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from bot.messaging.models import InboundMessage
from tests.support.messaging import inbound_params, post_signed
from tests.support.settings import AUTH_TOKEN, PUBLIC_URL, sign
from tests.test_helpers import count

MESSAGES = "/twilio/messages"


def captured() -> tuple[dict[str, str], str]:
    params = inbound_params("+15551234567", "semax|does it raise BDNF?")
    params["NumSegments"] = "1"
    return params, sign(params)


def recut(params: dict[str, str], absorbed: tuple[str, ...]) -> dict[str, str]:
    """MessageSid swallows the names and values that follow it in signing order."""
    forged = {k: v for k, v in params.items() if k not in absorbed}
    forged["MessageSid"] = params["MessageSid"] + "".join(k + params[k] for k in absorbed)
    return forged


@pytest.mark.parametrize("absorbed", [("NumMedia",), ("NumMedia", "NumSegments")])
def test_a_recut_form_keeps_its_signature_but_is_refused(client, services, absorbed):
    params, signature = captured()
    forged = recut(params, absorbed)
    # The attack is real: Twilio's own validator accepts the forged form with the signature.
    assert RequestValidator(AUTH_TOKEN).validate(PUBLIC_URL + MESSAGES, forged, signature)
    headers = {"X-Twilio-Signature": signature}
    assert client.post(MESSAGES, data=params, headers=headers).status_code == 200

    response = client.post(MESSAGES, data=forged, headers=headers)
    assert response.status_code == 400
    assert count(services, InboundMessage) == 1  # only the real one


def test_another_accounts_webhook_is_refused(client, services):
    params = inbound_params("+15551234567", "HELP")
    params["AccountSid"] = "AC" + "2" * 32
    response = post_signed(client, params)
    assert response.status_code == 403
    assert count(services, InboundMessage) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"MessageSid": "SM" + "a" * 31},  # one hex digit short
        {"MessageSid": "SM" + "g" * 32},
        {"MessageSid": "XX" + "a" * 32},
        {"MessageSid": "SM" + uuid.uuid4().hex + "x"},
        {"AccountSid": "AC123"},
        {"NumMedia": "0NumSegments1"},
        {"MessageSidNumMedia": "0"},
        {"Body\x00": "x"},
        {"SmsMessageSid": "SM" + "b" * 32},  # disagrees with MessageSid
    ],
)
def test_every_sid_and_name_is_held_to_twilios_shape(client, services, change):
    params = {**inbound_params("+15551234567", "HELP"), **change}
    response = post_signed(client, params)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert count(services, InboundMessage) == 0


def test_a_repeated_name_is_refused(client, services):
    params = inbound_params("+15551234567", "HELP")
    form = MultiDict([*params.items(), ("Body", "STOP")])
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + MESSAGES, form)
    response = client.post(MESSAGES, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 400
    assert count(services, InboundMessage) == 0


def test_parameters_twilio_may_add_later_still_pass(client, services):
    params = {**inbound_params("+15551234567", "HELP"), "SomeFutureField": "x", "WaId": "1555"}
    assert post_signed(client, params).status_code == 200
    assert count(services, InboundMessage) == 1


def test_a_recut_status_callback_is_refused(client, services):
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "MessageStatus": "delivered",
        "AccountSid": "AC" + "1" * 32,
    }
    forged = {**params, "MessageSid": params["MessageSid"] + "MessageStatusdelivered"}
    del forged["MessageStatus"]
    response = post_signed(client, forged, path="/twilio/status")
    assert response.status_code == 400
