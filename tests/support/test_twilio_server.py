"""The Twilio stand-in, driven through the official twilio client over real HTTP."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .recording_server import RecordingServer
from .twilio_media import MEDIA_SID_RE, media_sid_of
from .twilio_server import (
    CREATE_MESSAGE_PARAMS,
    CREATE_MESSAGE_REQUIRED,
    MEDIA_PROPERTIES,
    MESSAGE_PROPERTIES,
    MESSAGE_SID_RE,
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


# --- inbound media: the MediaUrl, its redirect to the CDN, and deleting Twilio's copy ---------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
MEDIA_URL_RE = (
    r"http://127\.0\.0\.1:\d+/2010-04-01"
    r"/Accounts/(AC[0-9a-f]{32})/Messages/([MS]M[0-9a-f]{32})/Media/(ME[0-9a-f]{32})"
)


def _auth(standin):
    return (standin.account_sid, standin.auth_token)


def _sids(media_url):
    """(account, message, media) sids of a MediaUrl."""
    return re.fullmatch(MEDIA_URL_RE, media_url).groups()


def _redirect(standin, media_url):
    response = requests.get(media_url, auth=_auth(standin), allow_redirects=False, timeout=5)
    assert response.status_code == 307, response.text
    return response.headers["Location"]


def test_add_media_returns_a_twilio_shaped_media_url(standin):
    url = standin.add_media(PNG, "image/png")
    account, message, _ = _sids(url)
    assert url.startswith(standin.url + "/")
    assert account == standin.account_sid and message.startswith("MM")
    assert standin.media_exists(url) and not standin.media_deleted(url)

    sms = "SM" + "ab" * 16
    assert _sids(standin.add_media(PNG, "image/png", message_sid=sms))[1] == sms
    with pytest.raises(ValueError):
        standin.add_media(PNG, "image/png", message_sid="MM123")


def test_media_url_needs_credentials(standin):
    url = standin.add_media(PNG, "image/png")
    for auth in (None, (standin.account_sid, "0" * 32), ("AC" + "0" * 32, standin.auth_token)):
        response = requests.get(url, auth=auth, allow_redirects=False, timeout=5)
        assert response.status_code == 401
        assert response.json() == {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }
    assert [(r["method"], r["authorized"], r["status"]) for r in standin.media_requests] == [
        ("GET", False, 401)
    ] * 3
    assert standin.cdn_requests == []


def test_media_url_redirects_307_to_the_cdn_on_another_origin(standin):
    url = standin.add_media(PNG, "image/png")
    location = _redirect(standin, url)
    assert location.startswith(standin.cdn.url + "/")
    assert urlsplit(location).port != urlsplit(standin.url).port
    assert "Signature=" in location and "Expires=" in location
    [request] = standin.media_requests
    assert request["authorized"] and request["status"] == 307
    assert request["media_sid"] == _sids(url)[2]
    assert standin.cdn_requests == []  # not followed


def test_following_the_redirect_gets_the_bytes_and_the_declared_type(standin):
    html = b"<html><script>alert(1)</script></html>"
    url = standin.add_media(html, "image/png")  # a lie the worker must see through
    response = requests.get(url, auth=_auth(standin), timeout=5)
    assert response.status_code == 200
    assert response.content == html
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Length"] == str(len(html))
    assert [r.status_code for r in response.history] == [307]


def test_credentials_are_not_forwarded_to_the_cdn(standin):
    url = standin.add_media(PNG, "image/jpeg")
    with requests.Session() as session:
        session.auth = _auth(standin)
        assert session.get(url, timeout=5).content == PNG
    assert requests.get(url, auth=_auth(standin), allow_redirects=True, timeout=5).ok
    assert [r["authorized"] for r in standin.media_requests] == [True, True]
    cdn = standin.cdn_requests
    assert [(r["method"], r["status"], r["authorization"]) for r in cdn] == [("GET", 200, None)] * 2
    assert all("Authorization" not in r["headers"] for r in cdn)
    assert cdn[0]["media_sid"] == _sids(url)[2]


def test_cdn_refuses_a_wrong_or_expired_signature(standin):
    url = standin.add_media(PNG, "image/png")
    location = _redirect(standin, url)
    base, query = location.split("?")
    expires, signature = (part.split("=")[1] for part in query.split("&"))
    forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    other_media = base[: -len(_sids(url)[2])] + "ME" + "0" * 32
    for bad in (
        f"{base}?Expires={expires}&Signature={forged}",
        f"{base}?Expires={int(expires) + 3600}&Signature={signature}",
        f"{other_media}?Expires={expires}&Signature={signature}",
        base,
        standin.cdn.url + "/anything",
    ):
        response = requests.get(bad, timeout=5)
        assert response.status_code == 403, bad
        assert b"<Code>AccessDenied</Code>" in response.content
    assert requests.put(location, data=b"x", timeout=5).status_code == 403
    assert requests.get(location, timeout=5).content == PNG

    standin.cdn.ttl = -1
    expired = requests.get(_redirect(standin, url), timeout=5)
    assert expired.status_code == 403 and b"expired" in expired.content


def test_delete_through_the_twilio_client(standin, client):
    url = standin.add_media(PNG, "image/png")
    _, message, media = _sids(url)
    location = _redirect(standin, url)

    assert client.messages(message).media(media).delete() is True
    assert standin.media_deleted(url) and not standin.media_exists(media)
    assert standin.media_requests[-1] | {"received_at": None} == {
        "method": "DELETE",
        "path": urlsplit(url).path + ".json",
        "media_sid": media,
        "authorized": True,
        "status": 204,
        "code": None,
        "injected": False,
        "received_at": None,
    }
    gone = requests.get(url, auth=_auth(standin), allow_redirects=False, timeout=5)
    assert (gone.status_code, gone.json()["code"]) == (404, 20404)
    cdn = requests.get(location, timeout=5)  # a URL signed before the delete
    assert cdn.status_code == 404 and b"NoSuchKey" in cdn.content

    with pytest.raises(TwilioRestException) as err:
        client.messages(message).media(media).delete()
    assert (err.value.status, err.value.code) == (404, 20404)


def test_media_resource_json(standin, client):
    url = standin.add_media(PNG, "image/gif")
    account, message, media = _sids(url)
    fetched = client.messages(message).media(media).fetch()
    assert (fetched.sid, fetched.parent_sid, fetched.account_sid) == (media, message, account)
    assert fetched.content_type == "image/gif"
    assert isinstance(fetched.date_created, datetime)
    assert fetched.uri == urlsplit(url).path + ".json"
    resource = requests.get(url + ".json", auth=_auth(standin), timeout=5).json()
    assert tuple(resource) == MEDIA_PROPERTIES


def test_media_schema_matches_the_contract():
    contract = _contract()
    schema = contract["components"]["schemas"]["api.v2010.account.message.media"]
    assert set(schema["properties"]) == set(MEDIA_PROPERTIES)
    path = contract["paths"][
        "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}.json"
    ]
    assert set(path) >= {"get", "delete"}
    assert list(path["delete"]["responses"]) == ["204"]
    patterns = {p["name"]: p["schema"]["pattern"] for p in path["delete"]["parameters"]}
    assert patterns["Sid"] == MEDIA_SID_RE.pattern
    assert patterns["MessageSid"] == MESSAGE_SID_RE.pattern


def test_unknown_malformed_or_misplaced_media_is_404(standin, client):
    url = standin.add_media(PNG, "image/png")
    account, message, media = _sids(url)
    prefix = f"{standin.url}/2010-04-01/Accounts/{account}/Messages"
    for bad in (
        f"{prefix}/{message}/Media/ME{'0' * 32}",  # unknown
        f"{prefix}/{message}/Media/MEnothex",  # malformed MediaSid
        f"{prefix}/MM{'0' * 32}/Media/{media}",  # another message's
        f"{prefix}/XX{'0' * 32}/Media/{media}",  # malformed MessageSid
    ):
        response = requests.get(bad, auth=_auth(standin), allow_redirects=False, timeout=5)
        assert (response.status_code, response.json()["code"]) == (404, 20404), bad
    with pytest.raises(TwilioRestException) as err:
        client.messages("MM" + "0" * 32).media(media).delete()
    assert err.value.status == 404
    assert standin.media_exists(url)


def test_another_accounts_media_is_401(standin):
    url = standin.add_media(PNG, "image/png", account_sid="AC" + "1" * 32)
    response = requests.get(url, auth=_auth(standin), allow_redirects=False, timeout=5)
    assert (response.status_code, response.json()["code"]) == (401, 20003)


def test_delete_on_the_bare_media_url_is_405(standin):
    url = standin.add_media(PNG, "image/png")
    response = requests.delete(url, auth=_auth(standin), timeout=5)
    assert (response.status_code, response.json()["code"]) == (405, 20004)
    assert standin.media_exists(url)


def test_media_sid_lookups(standin):
    url = standin.add_media(PNG, "image/png")
    media = _sids(url)[2]
    assert media_sid_of(url) == media_sid_of(url + ".json") == media_sid_of(media) == media
    assert media_sid_of(_redirect(standin, url)) == media
    with pytest.raises(KeyError):
        standin.media_deleted("ME" + "0" * 32)
    with pytest.raises(ValueError):
        standin.media_exists(url + "/extra")


# --- media fault injection --------------------------------------------------------------------


def test_fail_media_next_a_failed_delete_can_be_retried(standin, client):
    url = standin.add_media(PNG, "image/png")
    _, message, media = _sids(url)
    requests.get(url, timeout=5)  # unauthenticated: 401, and no fault used up
    standin.fail_media_next(1, status=503)
    with pytest.raises(TwilioRestException) as err:
        client.messages(message).media(media).delete()
    assert (err.value.status, err.value.code) == (503, 20503)
    assert standin.media_exists(url)  # the failed delete deleted nothing
    assert client.messages(message).media(media).delete() is True
    assert standin.media_deleted(url)
    deletes = [r for r in standin.media_requests if r["method"] == "DELETE"]
    assert [(r["status"], r["injected"]) for r in deletes] == [(503, True), (204, False)]


def test_fail_media_next_on_the_fetch(standin):
    url = standin.add_media(PNG, "image/png")
    standin.fail_media_next(2, status=429)
    for _ in range(2):
        response = requests.get(url, auth=_auth(standin), timeout=5)
        assert (response.status_code, response.json()["code"]) == (429, 20429)
    assert requests.get(url, auth=_auth(standin), timeout=5).content == PNG
    assert len(standin.cdn_requests) == 1


def test_delay_media_next_makes_a_fetch_time_out(standin):
    url = standin.add_media(PNG, "image/png")
    standin.delay_media_next(1, 2.0)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(url, auth=_auth(standin), timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert requests.get(url, auth=_auth(standin), timeout=5).content == PNG


def test_a_delayed_delete_has_deleted(standin):
    url = standin.add_media(PNG, "image/png")
    standin.delay_media_next(1, 2.0)
    with pytest.raises(requests.exceptions.Timeout):
        requests.delete(url + ".json", auth=_auth(standin), timeout=0.3)
    assert standin.media_deleted(url)


def test_cdn_stream_without_content_length_and_oversized(standin):
    url = standin.add_media(PNG, "image/png")
    standin.cdn.stream_next(size=3_000_000)
    response = requests.get(url, auth=_auth(standin), stream=True, timeout=5)
    assert "Content-Length" not in response.headers
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.headers["Content-Type"] == "image/png"
    body = b"".join(response.iter_content(65536))
    assert len(body) == 3_000_000 and body.startswith(PNG) and body[len(PNG) :].startswith(PNG)
    assert requests.get(url, auth=_auth(standin), timeout=5).content == PNG  # one only


def test_cdn_stream_more_than_announced(standin):
    url = standin.add_media(PNG, "image/png")
    standin.cdn.stream_next(size=100_000, content_length=10)
    response = requests.get(url, auth=_auth(standin), timeout=5)
    assert response.headers["Content-Length"] == "10"
    assert response.content == PNG[:10]  # HTTP framing: a client reads what was announced


def test_cdn_stream_slowly(standin):
    url = standin.add_media(PNG, "image/png")
    standin.cdn.stream_next(chunk_delay=1.0)
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(url, auth=_auth(standin), timeout=0.3)  # the headers wait too
    standin.cdn.stream_next(chunk_size=256, chunk_delay=0.05)
    started = time.monotonic()
    response = requests.get(url, auth=_auth(standin), timeout=5)
    assert response.content == PNG
    assert time.monotonic() - started >= 0.05 * (len(PNG) // 256)


def test_wait_for_media_requests(standin, client):
    url = standin.add_media(PNG, "image/png")
    _, message, media = _sids(url)

    def delete_later():
        time.sleep(0.2)
        client.messages(message).media(media).delete()

    deleter = threading.Thread(target=delete_later)
    deleter.start()
    [delete] = standin.wait_for_media_requests(lambda r: r["method"] == "DELETE", timeout=5)
    deleter.join()
    assert delete["status"] == 204
    with pytest.raises(TimeoutError, match="got 1"):
        standin.wait_for_media_requests(lambda r: r["method"] == "DELETE", count=2, timeout=0.2)


def test_clear_forgets_media(standin):
    url = standin.add_media(PNG, "image/png")
    requests.get(url, auth=_auth(standin), timeout=5)
    standin.fail_media_next(1)
    standin.cdn.stream_next(size=10)
    standin.clear()
    assert standin.media_requests == [] and standin.cdn_requests == []
    with pytest.raises(KeyError):
        standin.media_exists(url)
    response = requests.get(url, auth=_auth(standin), allow_redirects=False, timeout=5)
    assert response.status_code == 404  # not the fault: it was cancelled
    other = standin.add_media(PNG, "image/png")
    assert requests.get(other, auth=_auth(standin), timeout=5).content == PNG  # full, not 10


def test_stop_stops_the_cdn_and_start_resumes_it(standin):
    url = standin.add_media(PNG, "image/png")
    location = _redirect(standin, url)
    standin.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(location, timeout=5)
    standin.start()
    assert requests.get(location, timeout=5).content == PNG  # same port, URL still good


# --- RecordingServer --------------------------------------------------------------------------


def test_recording_server_records_every_request():
    with RecordingServer(b"\xff\xd8 not really", "image/jpeg") as recorder:
        assert recorder.requests == []
        url = recorder.url + "/2010-04-01/Accounts/AC0/Messages/MM0/Media/ME0?x=1"
        response = requests.get(url, auth=("AC0", "secret"), timeout=5)
        assert (response.status_code, response.content) == (200, b"\xff\xd8 not really")
        assert response.headers["Content-Type"] == "image/jpeg"
        requests.post(recorder.url + "/hook", data=b"payload", timeout=5)
        got, posted = recorder.requests
        assert (got["method"], got["path"], got["query"]) == (
            "GET",
            "/2010-04-01/Accounts/AC0/Messages/MM0/Media/ME0",
            "x=1",
        )
        assert got["authorization"].startswith("Basic ")
        assert (posted["method"], posted["body"], posted["authorization"]) == (
            "POST",
            b"payload",
            None,
        )
        recorder.clear()
        assert recorder.requests == []
    with pytest.raises(RuntimeError):
        _ = recorder.url


def test_recording_server_on_another_loopback_host():
    try:
        recorder = RecordingServer(host="127.0.0.2").start()
    except OSError:
        pytest.skip("127.0.0.2 is not a loopback address here")
    with recorder:
        assert recorder.url.startswith("http://127.0.0.2:")
        assert requests.get(recorder.url, timeout=5).status_code == 200
        assert len(recorder.requests) == 1
