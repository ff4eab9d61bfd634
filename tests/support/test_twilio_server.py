"""The Twilio stand-in, driven through the official twilio client over real HTTP."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .twilio_server import (
    CREATE_MESSAGE_PARAMS,
    CREATE_MESSAGE_REQUIRED,
    MESSAGE_PROPERTIES,
    TwilioStandIn,
)

TO, FROM = "+15551234567", "+15557654321"
CONTENT_SID = "HX" + "0123456789abcdef" * 2
SERVICE_SID = "MG" + "fedcba9876543210" * 2
MESSAGES_PATH = "/2010-04-01/Accounts/{}/Messages.json"


@pytest.fixture
def standin():
    with TwilioStandIn() as server:
        yield server


@pytest.fixture
def client(standin):
    return _client(standin)


def _client(standin, *, token=None, sid=None, timeout=None):
    c = Client(
        sid or standin.account_sid,
        token or standin.auth_token,
        http_client=TwilioHttpClient(timeout=timeout) if timeout else None,
    )
    c.api.base_url = standin.url
    return c


def _post(standin, data, *, auth=None, account=None):
    """A raw form POST, for what the client will not send."""
    return requests.post(
        standin.url + MESSAGES_PATH.format(account or standin.account_sid),
        data=data,
        auth=auth or (standin.account_sid, standin.auth_token),
        timeout=5,
    )


def _contract() -> dict:
    """shared/twilio/twilio_api_v2010.json: beside the repository in CI and on dev machines."""
    candidates = [os.environ.get("TWILIO_CONTRACT", "")]
    candidates += [
        str(parent / "shared" / "twilio" / "twilio_api_v2010.json")
        for parent in Path(__file__).resolve().parents
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return json.loads(Path(candidate).read_text())
    pytest.skip("Twilio contract shared/twilio/twilio_api_v2010.json not found")


def _resolve(contract: dict, spec: dict) -> dict:
    if "$ref" in spec:
        spec = contract["components"]["schemas"][spec["$ref"].rsplit("/", 1)[1]]
    out = {k: v for k, v in spec.items() if k not in ("description", "x-twilio")}
    if "items" in out:
        out["items"] = _resolve(contract, out["items"])
    return out


# --- the happy path ---------------------------------------------------------------------------


def test_create_is_recorded_and_returned(standin, client):
    m = client.messages.create(
        to=TO, from_=FROM, body="hi", status_callback="http://x/twilio/status"
    )

    assert re.fullmatch(r"SM[0-9a-f]{32}", m.sid)
    assert (m.status, m.to, m.from_, m.body) == ("queued", TO, FROM, "hi")
    assert m.account_sid == standin.account_sid
    assert m.direction == "outbound-api"
    assert m.num_segments == "1"
    assert m.num_media == "0"
    assert isinstance(m.date_created, datetime)
    assert m.uri == f"/2010-04-01/Accounts/{standin.account_sid}/Messages/{m.sid}.json"

    [sent] = standin.messages
    assert sent["sid"] == m.sid
    assert sent["account_sid"] == standin.account_sid
    assert (sent["to"], sent["from_"], sent["body"]) == (TO, FROM, "hi")
    assert sent["status_callback"] == "http://x/twilio/status"
    assert sent["content_sid"] is None and sent["content_variables"] is None
    assert sent["media_url"] == []
    assert sent["form"] == {
        "To": [TO],
        "From": [FROM],
        "Body": ["hi"],
        "StatusCallback": ["http://x/twilio/status"],
    }
    assert isinstance(sent["received_at"], datetime)
    assert standin.failures == []


def test_fetch_returns_the_recorded_message(client):
    m = client.messages.create(to=TO, from_=FROM, body="hello again")
    fetched = client.messages(m.sid).fetch()
    assert (fetched.sid, fetched.body, fetched.status) == (m.sid, "hello again", "queued")


def test_fetch_of_unknown_message_is_404(client):
    with pytest.raises(TwilioRestException) as err:
        client.messages("SM" + "0" * 32).fetch()
    assert (err.value.status, err.value.code) == (404, 20404)


def test_whatsapp_addresses(standin, client):
    m = client.messages.create(to="whatsapp:" + TO, from_="whatsapp:" + FROM, body="hola 👋")
    assert (m.to, m.from_) == ("whatsapp:" + TO, "whatsapp:" + FROM)
    [sent] = standin.messages
    assert sent["to"] == "whatsapp:" + TO
    assert sent["body"] == "hola 👋"


def test_mixed_channels_are_rejected(client):
    with pytest.raises(TwilioRestException) as err:
        client.messages.create(to="whatsapp:" + TO, from_=FROM, body="hi")
    assert (err.value.status, err.value.code) == (400, 21910)


def test_content_template_without_body(standin, client):
    variables = json.dumps({"1": "Semax", "2": "3 entries"})
    m = client.messages.create(
        to="whatsapp:" + TO,
        from_="whatsapp:" + FROM,
        content_sid=CONTENT_SID,
        content_variables=variables,
    )
    assert m.status == "queued"
    [sent] = standin.messages
    assert sent["body"] is None
    assert (sent["content_sid"], sent["content_variables"]) == (CONTENT_SID, variables)


def test_media_only_message(standin, client):
    m = client.messages.create(to=TO, from_=FROM, media_url=["https://example.com/a.png"] * 2)
    assert m.sid.startswith("MM") and m.num_media == "2"
    assert standin.messages[0]["media_url"] == ["https://example.com/a.png"] * 2


def test_messaging_service_without_from(standin, client):
    m = client.messages.create(to=TO, messaging_service_sid=SERVICE_SID, body="hi")
    assert (m.status, m.from_, m.messaging_service_sid) == ("accepted", None, SERVICE_SID)


def test_response_matches_the_contract_schema(standin):
    contract = _contract()
    schema = contract["components"]["schemas"]["api.v2010.account.message"]["properties"]
    response = _post(standin, {"To": TO, "From": FROM, "Body": "{curly} €5"})
    assert response.status_code == 201
    resource = response.json()
    assert set(resource) == set(schema)
    types = {"string": str, "integer": int, "object": dict}
    for name, spec in schema.items():
        spec = _resolve(contract, spec)
        value = resource[name]
        if value is None:
            assert spec.get("nullable"), name
            continue
        assert isinstance(value, types[spec["type"]]), name
        if "enum" in spec:
            assert value in spec["enum"], name
        if "pattern" in spec:
            assert re.search(spec["pattern"], value), name
    assert resource["num_segments"] == "1"


def test_embedded_schema_matches_the_contract():
    contract = _contract()
    post = contract["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]
    request = post["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    resolved = {name: _resolve(contract, spec) for name, spec in request["properties"].items()}
    assert resolved == CREATE_MESSAGE_PARAMS
    assert tuple(request["required"]) == CREATE_MESSAGE_REQUIRED
    response = contract["components"]["schemas"]["api.v2010.account.message"]
    assert set(response["properties"]) == set(MESSAGE_PROPERTIES)
    [account] = [p for p in post["parameters"] if p["name"] == "AccountSid"]
    assert account["schema"]["pattern"] == "^AC[0-9a-fA-F]{32}$"


# --- authentication ---------------------------------------------------------------------------


def test_wrong_token_is_401(standin):
    with pytest.raises(TwilioRestException) as err:
        _client(standin, token="0" * 32).messages.create(to=TO, from_=FROM, body="hi")
    assert (err.value.status, err.value.code) == (401, 20003)
    assert standin.messages == []
    assert standin.failures[0]["http_status"] == 401


def test_error_body_has_twilios_shape(standin):
    response = _post(standin, {"To": TO, "From": FROM, "Body": "hi"}, auth=("AC" + "0" * 32, "x"))
    assert response.status_code == 401
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


def test_no_credentials_is_401(standin):
    url = standin.url + MESSAGES_PATH.format(standin.account_sid)
    response = requests.post(url, data={"To": TO, "From": FROM, "Body": "hi"}, timeout=5)
    assert response.status_code == 401


def test_malformed_account_sid_in_path_is_404(standin):
    response = _post(standin, {"To": TO, "From": FROM, "Body": "hi"}, account="ACnothex")
    assert (response.status_code, response.json()["code"]) == (404, 20404)


def test_other_account_in_path_is_401(standin):
    response = _post(standin, {"To": TO, "From": FROM, "Body": "hi"}, account="AC" + "1" * 32)
    assert (response.status_code, response.json()["code"]) == (401, 20003)


# --- validation against CreateMessageRequest --------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": TO, "from_": FROM}, 21602),
        ({"to": TO, "from_": FROM, "body": ""}, 21602),
        ({"to": "", "from_": FROM, "body": "hi"}, 21604),
        ({"to": TO, "body": "hi"}, 21603),
        ({"to": TO, "from_": FROM, "body": "x" * 1601}, 21617),
        ({"to": "5551234567", "from_": FROM, "body": "hi"}, 21211),
        ({"to": TO, "from_": "+1 555 765", "body": "hi"}, 21212),
        ({"to": TO, "from_": FROM, "body": "hi", "status_callback": "ftp://x/s"}, 21609),
        ({"to": TO, "from_": FROM, "media_url": ["not a url"]}, 21620),
        ({"to": TO, "from_": FROM, "content_sid": CONTENT_SID, "content_variables": "[1]"}, 21656),
        ({"to": TO, "from_": FROM, "body": "hi", "content_retention": "forever"}, 20422),
        ({"to": TO, "from_": FROM, "content_sid": "HXshort"}, 20422),
        ({"to": TO, "messaging_service_sid": "MG123", "body": "hi"}, 20422),
        ({"to": TO, "from_": FROM, "body": "hi", "validity_period": "soon"}, 20422),
    ],
)
def test_invalid_requests_are_400(standin, client, kwargs, code):
    with pytest.raises(TwilioRestException) as err:
        client.messages.create(**kwargs)
    assert (err.value.status, err.value.code) == (400, code)
    assert standin.messages == []
    [failure] = standin.failures
    assert (failure["http_status"], failure["code"], failure["injected"]) == (400, code, False)


def test_1600_characters_is_the_limit(client):
    assert client.messages.create(to=TO, from_=FROM, body="x" * 1600).num_segments == "11"


def test_unknown_parameter_is_400(standin):
    response = _post(standin, {"To": TO, "From": FROM, "Body": "hi", "Sender": "me"})
    assert (response.status_code, response.json()["code"]) == (400, 20001)
    assert "Sender" in response.json()["message"]


def test_repeated_single_valued_parameter_is_400(standin):
    response = _post(standin, [("To", TO), ("To", TO), ("From", FROM), ("Body", "hi")])
    assert (response.status_code, response.json()["code"]) == (400, 20001)


def test_json_body_is_rejected(standin):
    url = standin.url + MESSAGES_PATH.format(standin.account_sid)
    auth = (standin.account_sid, standin.auth_token)
    response = requests.post(url, json={"To": TO, "From": FROM, "Body": "hi"}, auth=auth, timeout=5)
    assert response.status_code == 400
    assert standin.messages == []


# --- fault injection --------------------------------------------------------------------------


def test_fail_next_unsubscribed_recipient(standin, client):
    standin.fail_next(
        1, status=400, code=21610, message="Attempt to send to unsubscribed recipient"
    )
    with pytest.raises(TwilioRestException) as err:
        client.messages.create(to=TO, from_=FROM, body="hi")
    assert (err.value.status, err.value.code) == (400, 21610)
    assert "unsubscribed" in err.value.msg
    assert standin.messages == []
    [failure] = standin.failures
    assert failure["injected"] and failure["code"] == 21610 and failure["body"] == "hi"

    assert client.messages.create(to=TO, from_=FROM, body="hi").status == "queued"
    assert len(standin.messages) == 1


def test_fail_next_500_is_not_retried_by_the_client(standin, client):
    standin.fail_next(2, status=500)
    with pytest.raises(TwilioRestException) as err:
        client.messages.create(to=TO, from_=FROM, body="hi")
    assert (err.value.status, err.value.code) == (500, 20500)
    assert len(standin.failures) == 1  # one HTTP call: the client gave up at once
    with pytest.raises(TwilioRestException):
        client.messages.create(to=TO, from_=FROM, body="hi")
    client.messages.create(to=TO, from_=FROM, body="hi")
    assert (len(standin.failures), len(standin.messages)) == (2, 1)


def test_fail_next_rate_limited(client, standin):
    standin.fail_next(1, status=429)
    with pytest.raises(TwilioRestException) as err:
        client.messages.create(to=TO, from_=FROM, body="hi")
    assert (err.value.status, err.value.code) == (429, 20429)


def test_delay_next_makes_the_client_time_out_but_the_message_is_sent(standin):
    standin.delay_next(1, 2.0)
    slow_client = _client(standin, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        slow_client.messages.create(to=TO, from_=FROM, body="hi")
    assert time.monotonic() - started < 1.5
    assert len(standin.messages) == 1  # Twilio took it; only the answer was lost
    assert slow_client.messages.create(to=TO, from_=FROM, body="again").body == "again"


def test_clear_forgets_everything(standin, client):
    client.messages.create(to=TO, from_=FROM, body="hi")
    standin.fail_next(3)
    standin.clear()
    assert standin.messages == [] and standin.failures == []
    client.messages.create(to=TO, from_=FROM, body="hi")
    assert len(standin.messages) == 1


# --- waiting and lifecycle --------------------------------------------------------------------


def test_wait_for_blocks_until_sent(standin, client):
    def send_later():
        time.sleep(0.2)
        for body in ("one", "two", "three"):
            client.messages.create(to=TO, from_=FROM, body=body)

    sender = threading.Thread(target=send_later)
    sender.start()
    found = standin.wait_for(lambda m: m["body"] != "one", count=2, timeout=5)
    sender.join()
    assert [m["body"] for m in found] == ["two", "three"]


def test_wait_for_times_out(standin, client):
    client.messages.create(to=TO, from_=FROM, body="hi")
    with pytest.raises(TimeoutError, match="got 1"):
        standin.wait_for(count=2, timeout=0.2)


def test_concurrent_sends_are_all_recorded(standin, client):
    threads = [
        threading.Thread(target=client.messages.create, kwargs={"to": TO, "from_": FROM, "body": i})
        for i in map(str, range(20))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    found = standin.wait_for(count=20, timeout=5)
    assert sorted(int(m["body"]) for m in found) == list(range(20))
    assert len({m["sid"] for m in found}) == 20


def test_stop_refuses_connections_and_start_resumes_on_the_same_port(standin, client):
    client.messages.create(to=TO, from_=FROM, body="before")
    url = standin.url
    standin.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        client.messages.create(to=TO, from_=FROM, body="during")
    standin.start()
    assert standin.url == url
    client.messages.create(to=TO, from_=FROM, body="after")
    assert [m["body"] for m in standin.messages] == ["before", "after"]


def test_constructor_credentials():
    sid, token = "AC" + "ab" * 16, "cd" * 16
    with TwilioStandIn(sid, token) as server:
        assert (server.account_sid, server.auth_token) == (sid, token)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        _client(server).messages.create(to=TO, from_=FROM, body="hi")
    default = TwilioStandIn()
    assert re.fullmatch(r"AC[0-9a-f]{32}", default.account_sid)
    assert re.fullmatch(r"[0-9a-f]{32}", default.auth_token)
