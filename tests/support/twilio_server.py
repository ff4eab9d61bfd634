"""A local, Twilio-compatible stand-in for api.twilio.com, for integration tests and benchmarks.

Why it exists: the bot's outbound path must be exercised with the real ``twilio`` client over
real HTTP, so that what is tested is what runs in production (form encoding, Basic auth, error
parsing into ``TwilioRestException``, timeouts, connection reuse). Mocking ``messages.create``
would test none of that. This server speaks the part of Twilio's 2010-04-01 REST contract the
bot uses (``shared/twilio/twilio_api_v2010.json``): it checks each send against the
``CreateMessageRequest`` schema, records it, and answers like Twilio. It can also inject faults
(error answers, slow answers) for reliability tests.

    with TwilioStandIn() as twilio:
        client = Client(twilio.account_sid, twilio.auth_token)
        client.api.base_url = twilio.url
        client.messages.create(to="+15551234567", from_="+15557654321", body="hi")
        [sent] = twilio.wait_for(lambda m: m["to"] == "+15551234567")

Routes (all need HTTP Basic auth as ``account_sid:auth_token``):

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``: send; 201 with the message resource.
- ``GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json``: a recorded message, or 404.
- ``GET  /2010-04-01/Accounts/{AccountSid}/Messages.json?To=&From=``: recorded messages, newest
  first (one page), for reconciling sends whose outcome we did not record.
- ``GET  /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}``: an inbound
  file's MediaUrl (``add_media``); 307 to a signed URL on the CDN, a second server on another
  port (``cdn``, ``tests/support/twilio_media.py``) that serves the bytes without auth.
- ``GET  …/Media/{MediaSid}.json``: the media resource (sid, parent_sid, content_type, …).
- ``DELETE …/Media/{MediaSid}.json``: delete Twilio's copy; 204, then 404. Only the ``.json``
  URI takes DELETE (405 on the bare MediaUrl): that is the one Twilio documents.

    media_url = twilio.add_media(png, "image/png")  # what MediaUrl0 would carry
    response = requests.get(media_url, auth=(twilio.account_sid, twilio.auth_token), timeout=5)
    assert response.content == png and twilio.cdn_requests[0]["authorization"] is None
    client.messages(message_sid).media(media_sid).delete()
    assert twilio.media_deleted(media_url)

Error answers use Twilio's JSON shape ``{"code", "message", "more_info", "status"}``:

=====  =====  ==========================================================================
HTTP   code   when
=====  =====  ==========================================================================
401    20003  missing or wrong credentials, or the path account is not the caller's (media too)
404    20404  malformed AccountSid or message Sid, unknown message, unknown route; for media: a
              MediaSid not ``ME`` + 32 hex, unknown or deleted media, or another message's
405    20004  a method the stand-in does not serve on a known route (e.g. DELETE on a MediaUrl)
400    20001  a parameter not in CreateMessageRequest, a repeated single-valued parameter,
              or a body that is not application/x-www-form-urlencoded
400    20422  a value that breaks the schema (type, enum, pattern, length, date-time)
400    21604  ``To`` missing or empty
400    21603  neither ``From`` nor ``MessagingServiceSid``
400    21602  none of ``Body``, ``MediaUrl``, ``ContentSid`` (an empty Body counts as none)
400    21617  ``Body`` longer than 1600 characters
400    21211  ``To`` is not E.164 (optionally behind a channel prefix, e.g. ``whatsapp:``)
400    21212  ``From`` is not E.164, a short code or an alphanumeric sender id
400    21910  ``From`` and ``To`` are on different channels (e.g. whatsapp: to SMS)
400    21609  ``StatusCallback`` is not an http(s) URL with a valid host name
400    21620  a ``MediaUrl`` is not an http(s) URL
400    21623  more than 10 ``MediaUrl``
400    21656  ``ContentVariables`` is not a JSON object, or is sent without ``ContentSid``
=====  =====  ==========================================================================

``fail_next`` answers happen after authentication and before validation; ``delay_next`` delays
the answer, not the processing: a delayed send is recorded at once (as with real Twilio, a
client that times out cannot know whether its message went out). ``fail_media_next`` and
``delay_media_next`` do the same for media API requests (a failed DELETE deletes nothing, a
delayed one has deleted), ``cdn.stream_next`` makes the CDN's answers oversized or slow; media
traffic is recorded in ``media_requests`` and ``cdn_requests``. The CDN's answers are listed in
``tests/support/twilio_media.py``.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from bot.messaging.sms import segments

from .recording_server import LocalServer
from .twilio_media import MEDIA_SID_RE, MediaFile, MediaStore, media_sid_of

API_VERSION = "2010-04-01"
MAX_BODY_CHARS = 1600
MAX_MEDIA = 10

# CreateMessageRequest properties, as in the contract with $refs resolved and prose dropped.
# tests/support/test_twilio_server.py checks this against shared/twilio/twilio_api_v2010.json.
CREATE_MESSAGE_PARAMS: dict[str, dict[str, Any]] = {
    "To": {"type": "string", "format": "phone-number"},
    "StatusCallback": {"type": "string", "format": "uri"},
    "ApplicationSid": {
        "type": "string",
        "minLength": 34,
        "maxLength": 34,
        "pattern": "^AP[0-9a-fA-F]{32}$",
    },
    "MaxPrice": {"type": "number"},
    "ProvideFeedback": {"type": "boolean"},
    "Attempt": {"type": "integer"},
    "ValidityPeriod": {"type": "integer"},
    "ForceDelivery": {"type": "boolean"},
    "ContentRetention": {"type": "string", "enum": ["retain", "discard"]},
    "AddressRetention": {"type": "string", "enum": ["retain", "obfuscate"]},
    "SmartEncoded": {"type": "boolean"},
    "PersistentAction": {"type": "array", "items": {"type": "string"}},
    "TrafficType": {"type": "string", "enum": ["free"]},
    "ShortenUrls": {"type": "boolean"},
    "ScheduleType": {"type": "string", "enum": ["fixed"]},
    "SendAt": {"type": "string", "format": "date-time"},
    "SendAsMms": {"type": "boolean"},
    "ContentVariables": {"type": "string"},
    "RiskCheck": {"type": "string", "enum": ["enable", "disable"]},
    "From": {"type": "string", "format": "phone-number"},
    "FallbackFrom": {"type": "string", "format": "phone-number"},
    "MessagingServiceSid": {
        "type": "string",
        "minLength": 34,
        "maxLength": 34,
        "pattern": "^MG[0-9a-fA-F]{32}$",
    },
    "Body": {"type": "string"},
    "MediaUrl": {"type": "array", "items": {"type": "string", "format": "uri"}},
    "ContentSid": {
        "type": "string",
        "minLength": 34,
        "maxLength": 34,
        "pattern": "^HX[0-9a-fA-F]{32}$",
    },
}
CREATE_MESSAGE_REQUIRED = ("To",)

# Properties of the api.v2010.account.message response schema (all are returned).
MESSAGE_PROPERTIES = (
    "body",
    "num_segments",
    "direction",
    "from",
    "to",
    "date_updated",
    "price",
    "error_message",
    "uri",
    "account_sid",
    "num_media",
    "status",
    "messaging_service_sid",
    "sid",
    "date_sent",
    "date_created",
    "error_code",
    "price_unit",
    "api_version",
    "subresource_uris",
)

# Properties of the api.v2010.account.message.media response schema.
MEDIA_PROPERTIES = (
    "account_sid",
    "content_type",
    "date_created",
    "date_updated",
    "parent_sid",
    "sid",
    "uri",
)

ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
MESSAGE_SID_RE = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
_E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")
_SHORT_CODE_RE = re.compile(r"^[0-9]{3,8}$")
_ALPHANUMERIC_ID_RE = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_CHANNEL_RE = re.compile(r"^([a-z]+):(.+)$")
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9.-]+$")
_PHONE_CHANNELS = frozenset({"whatsapp", "sms", "mms"})

_ERROR_MESSAGES = {
    20001: "Unknown parameter",
    20003: "Authenticate",
    20004: "Method not allowed",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21610: "Attempt to send to unsubscribed recipient",
    21611: "This 'From' number has exceeded the maximum number of queued messages",
}


class TwilioError(Exception):
    """An error answer in Twilio's JSON shape."""

    def __init__(self, status: int, code: int, message: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message or _ERROR_MESSAGES.get(code) or _reason(status)

    def payload(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def default_error_code(status: int) -> int:
    """Twilio's generic code for an HTTP status: 20003 for 401/403, else 20000 + status."""
    return 20003 if status in (401, 403) else 20000 + status


def _json_response(payload: dict[str, Any], status: int) -> Response:
    response = Response(json.dumps(payload), status=status, mimetype="application/json")
    response.headers["Twilio-Request-Id"] = "RQ" + secrets.token_hex(16)
    return response


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC))


# --- validation of a CreateMessageRequest form ---------------------------------------------


def _check_value(name: str, value: str, spec: dict[str, Any]) -> None:
    """Check one form value against its (resolved) schema; raise TwilioError 20422 if it fails."""

    def bad(why: str) -> TwilioError:
        return TwilioError(400, 20422, f"Invalid parameter {name}: {why}")

    kind = spec.get("type")
    if kind == "array":
        _check_value(name, value, spec["items"])
        return
    if kind == "boolean" and value not in ("true", "false", "True", "False"):
        raise bad(f"{value!r} is not a boolean")
    if kind == "integer":
        try:
            int(value)
        except ValueError:
            raise bad(f"{value!r} is not an integer") from None
    if kind == "number":
        try:
            float(value)
        except ValueError:
            raise bad(f"{value!r} is not a number") from None
    if "enum" in spec and value not in spec["enum"]:
        raise bad(f"{value!r} is not one of {spec['enum']}")
    if "minLength" in spec and len(value) < spec["minLength"]:
        raise bad(f"shorter than {spec['minLength']} characters")
    if "maxLength" in spec and len(value) > spec["maxLength"]:
        raise bad(f"longer than {spec['maxLength']} characters")
    if "pattern" in spec and not re.search(spec["pattern"], value):
        raise bad(f"{value!r} does not match {spec['pattern']}")
    if spec.get("format") == "date-time":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise bad(f"{value!r} is not an ISO 8601 date-time") from None


def _channel(address: str) -> tuple[str | None, str]:
    match = _CHANNEL_RE.match(address)
    return (match.group(1), match.group(2)) if match else (None, address)


def _valid_to(address: str) -> bool:
    channel, rest = _channel(address)
    if channel is None or channel in _PHONE_CHANNELS:
        return bool(_E164_RE.match(rest))
    return bool(rest.strip())


def _valid_from(address: str) -> bool:
    channel, rest = _channel(address)
    if channel is None:
        return any(r.match(rest) for r in (_E164_RE, _SHORT_CODE_RE, _ALPHANUMERIC_ID_RE))
    if channel in _PHONE_CHANNELS:
        return bool(_E164_RE.match(rest))
    return bool(rest.strip())


def _valid_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(host)
        and "_" not in host
        and bool(_HOSTNAME_RE.match(host))
    )


def validate_create(form: dict[str, list[str]]) -> None:
    """Check a CreateMessageRequest form (a dict of lists); raise TwilioError if Twilio would."""
    for name, values in form.items():
        spec = CREATE_MESSAGE_PARAMS.get(name)
        if spec is None:
            raise TwilioError(400, 20001, f"Unknown parameter: {name}")
        if spec["type"] != "array" and len(values) > 1:
            raise TwilioError(400, 20001, f"Parameter {name} given {len(values)} times")
        for value in values:
            if value != "":  # empty means absent, as Twilio treats it
                _check_value(name, value, spec)

    def one(name: str) -> str:
        return form.get(name, [""])[0]

    to, from_, service = one("To"), one("From"), one("MessagingServiceSid")
    body, content_sid = one("Body"), one("ContentSid")
    media = [url for url in form.get("MediaUrl", []) if url]

    if not to:
        raise TwilioError(400, 21604, "A 'To' phone number is required.")
    if not from_ and not service:
        raise TwilioError(400, 21603, "A 'From' phone number is required.")
    if not body and not media and not content_sid:
        raise TwilioError(400, 21602, "Message body is required.")
    if len(body) > MAX_BODY_CHARS:
        raise TwilioError(
            400,
            21617,
            f"The concatenated message body exceeds the {MAX_BODY_CHARS} character limit.",
        )
    if not _valid_to(to):
        raise TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if from_:
        if not _valid_from(from_):
            raise TwilioError(400, 21212, f"The 'From' number {from_} is not a valid phone number.")
        if _channel(to)[0] != _channel(from_)[0]:
            raise TwilioError(
                400,
                21910,
                "Invalid From and To pair. From and To should be of the same channel",
            )
    callback = one("StatusCallback")
    if callback and not _valid_http_url(callback):
        raise TwilioError(400, 21609, f"Invalid StatusCallback url: {callback}")
    if len(media) > MAX_MEDIA:
        raise TwilioError(400, 21623, "Number of media files exceeds allowed limit")
    for url in media:
        if not _valid_http_url(url):
            raise TwilioError(400, 21620, f"Invalid media URL(s): {url}")
    variables = one("ContentVariables")
    if variables:
        if not content_sid:
            raise TwilioError(400, 21656, "ContentVariables requires ContentSid")
        try:
            parsed = json.loads(variables)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise TwilioError(400, 21656, "The ContentVariables Parameter is invalid")


# --- the server ------------------------------------------------------------------------------


class TwilioStandIn:
    """A threaded HTTP server on 127.0.0.1 that answers like api.twilio.com's Messages API.

    ``messages`` and ``failures`` return snapshots (lists of dicts), safe to read while the
    server runs. A recorded message has the keys ``sid``, ``account_sid``, ``to``, ``from_``,
    ``body``, ``status_callback``, ``content_sid``, ``content_variables``,
    ``messaging_service_sid``, ``media_url`` (list), ``form`` (the raw form, a dict of lists),
    ``received_at`` (aware UTC datetime) and ``response`` (the JSON resource returned). A failure
    has the same keys (``sid`` is None) plus ``http_status``, ``code``, ``message`` and
    ``injected`` (True for ``fail_next`` answers).

    Inbound media (``add_media``) is served by the API routes here and by ``cdn``, a
    ``twilio_media.MediaStore``: the stored files and a second server that serves them, started
    and stopped with this one. Use ``cdn.url``, ``cdn.ttl`` (seconds a redirect's URL stays
    good; negative hands out expired ones) and ``cdn.stream_next`` (oversized, slow answers).
    """

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        port: int = 0,
    ) -> None:
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self._lock = threading.RLock()  # a wait_for predicate may read .messages
        self._changed = threading.Condition(self._lock)
        self._messages: list[dict[str, Any]] = []
        self._failures: list[dict[str, Any]] = []
        self._faults: list[tuple[int, int, str | None]] = []
        self._delays: list[float] = []
        self.cdn = MediaStore()  # the files, and the CDN server for them
        self._media_requests: list[dict[str, Any]] = []
        self._media_faults: list[tuple[int, int, str | None]] = []
        self._media_delays: list[float] = []
        self._http = LocalServer(self._wsgi, port=port, name="twilio-standin")
        media = f"/{API_VERSION}/Accounts/<account>/Messages/<message>/Media/<sid>"
        self._routes = Map(
            [
                Rule(
                    f"/{API_VERSION}/Accounts/<account>/Messages.json",
                    endpoint="messages",
                ),
                Rule(
                    f"/{API_VERSION}/Accounts/<account>/Messages/<sid>.json",
                    endpoint="message",
                ),
                Rule(media + ".json", endpoint="media"),
                Rule(media, endpoint="media_content"),
            ]
        )

    # -- lifecycle --

    @property
    def port(self) -> int:
        """The API's port (0 until the first start if none was asked for)."""
        return self._http.port

    @property
    def url(self) -> str:
        """Base URL to give the client (``client.api.base_url = standin.url``)."""
        if not self._http.running:
            raise RuntimeError("the Twilio stand-in is not running")
        return self._http.url

    def start(self) -> TwilioStandIn:
        """Start serving. After ``stop()`` it starts again on the same port (an outage ends)."""
        self._http.start()
        self.cdn.start()
        return self

    def stop(self) -> None:
        """Stop serving (the CDN too) and drop open connections: nothing is answered any more.

        A ``delay_next`` or ``delay_media_next`` sleep is cut short.
        """
        self._http.stop()
        self.cdn.stop()

    def __enter__(self) -> TwilioStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what was sent --

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Messages accepted so far (201 answers), oldest first."""
        with self._lock:
            return list(self._messages)

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Create calls answered with an error (injected or not), oldest first."""
        with self._lock:
            return list(self._failures)

    def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:
        """Block until at least ``count`` recorded messages match ``predicate``; return them all.

        Raises TimeoutError (with what was recorded) if that does not happen within ``timeout``.
        """

        def matching() -> list[dict[str, Any]]:
            return [m for m in self._messages if predicate is None or predicate(m)]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= count, timeout):
                found = matching()
                raise TimeoutError(
                    f"expected {count} matching message(s) within {timeout}s, got {len(found)};"
                    f" recorded: {[(m['to'], m['body']) for m in self._messages]!r}"
                )
            return matching()

    def clear(self) -> None:
        """Forget recorded messages, failures, media and media traffic; cancel pending faults.

        Media goes too, so that with one stand-in for a whole session (``tests/conftest.py``)
        each test starts with none: a MediaUrl from an earlier test is a 404.
        """
        with self._changed:
            self._messages.clear()
            self._failures.clear()
            self._faults.clear()
            self._delays.clear()
            self._media_requests.clear()
            self._media_faults.clear()
            self._media_delays.clear()
            self.cdn.clear()

    # -- fault injection --

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        code: int | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``n`` create calls with ``status`` and a Twilio error body.

        ``code`` defaults to Twilio's generic one for the status (500 → 20500, 429 → 20429).
        E.g. ``fail_next(1, status=400, code=21610)`` for an unsubscribed recipient.
        """
        fault = (status, code if code is not None else default_error_code(status), message)
        with self._lock:
            self._faults.extend([fault] * n)

    def delay_next(self, n: int, seconds: float) -> None:
        """Hold the answer to the next ``n`` create calls for ``seconds`` (after recording)."""
        with self._lock:
            self._delays.extend([seconds] * n)

    # -- inbound media --

    def add_media(
        self,
        data: bytes,
        content_type: str,
        *,
        message_sid: str | None = None,
        account_sid: str | None = None,
    ) -> str:
        """Store a file as Twilio holds an inbound message's media; return its MediaUrl.

        The URL is what a webhook's ``MediaUrl0`` would carry, on this stand-in:
        ``{url}/2010-04-01/Accounts/{account}/Messages/{message}/Media/ME…``. ``message_sid``
        defaults to a new ``MM…``; ``account_sid`` to the stand-in's (another account's media
        is then a 401 for our credentials, as on Twilio). The CDN serves ``content_type`` as
        given, even when it is not what the bytes are: the worker must not trust it.
        """
        account = account_sid or self.account_sid
        message = message_sid or "MM" + secrets.token_hex(16)
        if not ACCOUNT_SID_RE.match(account) or not MESSAGE_SID_RE.match(message):
            raise ValueError(f"not an AccountSid and a MessageSid: {account!r}, {message!r}")
        file = self.cdn.add(data, content_type, account, message)
        return self.url + self._media_uri(file)

    @property
    def media_requests(self) -> list[dict[str, Any]]:
        """Requests to the media API routes, oldest first (the CDN's are ``cdn_requests``).

        Each has ``method``, ``path``, ``media_sid`` (as in the path), ``authorized`` (the
        stand-in's credentials were sent), ``status``, ``code`` (Twilio's error code or None),
        ``injected`` (a ``fail_media_next`` answer) and ``received_at``.
        """
        with self._lock:
            return list(self._media_requests)

    @property
    def cdn_requests(self) -> list[dict[str, Any]]:
        """Requests the CDN received, oldest first: ``method``, ``path``, ``query``,
        ``authorization`` (the Authorization header, or None: it must be None), ``headers``,
        ``media_sid`` (None for a path the CDN never signed), ``status``, ``received_at``.
        """
        return self.cdn.requests

    def media_exists(self, url_or_sid: str) -> bool:
        """True while the media is stored and not deleted. KeyError if it was never added."""
        return self.cdn.get(media_sid_of(url_or_sid)).deleted_at is None

    def media_deleted(self, url_or_sid: str) -> bool:
        """True once the media was deleted through the API. KeyError if it was never added."""
        return self.cdn.get(media_sid_of(url_or_sid)).deleted_at is not None

    def wait_for_media_requests(
        self,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:
        """Block until at least ``count`` media API requests match ``predicate``; return them.

        For a worker that fetches and deletes in the background, e.g. waiting for the retried
        DELETE: ``wait_for_media_requests(lambda r: r["method"] == "DELETE", count=2)``.
        """

        def matching() -> list[dict[str, Any]]:
            return [r for r in self._media_requests if predicate is None or predicate(r)]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= count, timeout):
                seen = [(r["method"], r["status"]) for r in self._media_requests]
                raise TimeoutError(
                    f"expected {count} matching media request(s) within {timeout}s,"
                    f" got {len(matching())}; recorded: {seen!r}"
                )
            return matching()

    def fail_media_next(
        self,
        n: int = 1,
        status: int = 500,
        code: int | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``n`` authenticated media API requests (GET of the MediaUrl or the
        ``.json``, DELETE) with ``status`` and a Twilio error body, instead of doing them: a
        failed DELETE leaves the media in place, for the worker to retry.
        """
        fault = (status, code if code is not None else default_error_code(status), message)
        with self._lock:
            self._media_faults.extend([fault] * n)

    def delay_media_next(self, n: int, seconds: float) -> None:
        """Hold the answer to the next ``n`` media API requests for ``seconds``.

        As with ``delay_next``, the request is carried out first: a delayed DELETE has deleted
        by the time the client times out.
        """
        with self._lock:
            self._media_delays.extend([seconds] * n)

    # -- HTTP --

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        delay = 0.0
        try:
            adapter = self._routes.bind_to_environ(environ)
            try:
                endpoint, args = adapter.match(method=request.method)
            except Exception:
                raise TwilioError(404, 20404) from None
            if endpoint == "messages" and request.method == "POST":
                response, delay = self._create(request, args["account"])
            elif endpoint == "message" and request.method == "GET":
                response = self._fetch(request, args["account"], args["sid"])
            elif endpoint == "messages" and request.method == "GET":
                response = self._list(request, args["account"])
            elif endpoint in ("media", "media_content"):
                response, delay = self._media_route(request, endpoint, args)
            else:
                raise TwilioError(405, 20004)
        except TwilioError as error:
            response = _json_response(error.payload(), error.status)
        if delay:
            self._http.stopping.wait(delay)
        return response(environ, start_response)

    def _has_credentials(self, request: Request) -> bool:
        auth = request.authorization
        return (
            auth is not None
            and auth.type == "basic"
            and hmac.compare_digest((auth.username or "").encode(), self.account_sid.encode())
            and hmac.compare_digest((auth.password or "").encode(), self.auth_token.encode())
        )

    def _authenticate(self, request: Request, account: str) -> None:
        if not self._has_credentials(request):
            raise TwilioError(401, 20003)
        if not ACCOUNT_SID_RE.match(account):
            raise TwilioError(404, 20404)
        if account != self.account_sid:
            raise TwilioError(401, 20003)

    def _create(self, request: Request, account: str) -> tuple[Response, float]:
        form: dict[str, list[str]] = {}
        if request.mimetype == "application/x-www-form-urlencoded":
            form = request.form.to_dict(flat=False)
        record = self._record(account, form)
        with self._lock:
            delay = self._delays.pop(0) if self._delays else 0.0
        injected = False
        try:
            self._authenticate(request, account)
            with self._lock:
                fault = self._faults.pop(0) if self._faults else None
            if fault is not None:
                injected = True
                raise TwilioError(*fault)
            if request.content_length and request.mimetype != "application/x-www-form-urlencoded":
                raise TwilioError(400, 20001, "Content-Type must be x-www-form-urlencoded")
            validate_create(form)
        except TwilioError as error:
            record.update(
                http_status=error.status, code=error.code, message=error.message, injected=injected
            )
            with self._lock:
                self._failures.append(record)
            return _json_response(error.payload(), error.status), delay

        resource = self._resource(record)
        record.update(sid=resource["sid"], response=resource)
        with self._changed:
            self._messages.append(record)
            self._changed.notify_all()
        return _json_response(resource, 201), delay

    def _list(self, request: Request, account: str) -> Response:
        """Messages newest first, filtered by To and From (one page): what reconciliation reads."""
        self._authenticate(request, account)
        to, from_ = request.args.get("To"), request.args.get("From")
        with self._lock:
            found = [
                m["response"]
                for m in reversed(self._messages)
                if (to is None or m["to"] == to) and (from_ is None or m["from_"] == from_)
            ]
        uri = f"/{API_VERSION}/Accounts/{account}/Messages.json"
        return _json_response(
            {
                "messages": found[:50],
                "end": max(len(found[:50]) - 1, 0),
                "first_page_uri": uri + "?PageSize=50&Page=0",
                "next_page_uri": None,
                "page": 0,
                "page_size": 50,
                "previous_page_uri": None,
                "start": 0,
                "uri": uri,
            },
            200,
        )

    def _record(self, account: str, form: dict[str, list[str]]) -> dict[str, Any]:
        def one(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values else None

        return {
            "sid": None,
            "account_sid": account,
            "to": one("To"),
            "from_": one("From"),
            "body": one("Body"),
            "status_callback": one("StatusCallback"),
            "content_sid": one("ContentSid"),
            "content_variables": one("ContentVariables"),
            "messaging_service_sid": one("MessagingServiceSid"),
            "media_url": [url for url in form.get("MediaUrl", []) if url],
            "form": form,
            "received_at": datetime.now(UTC),
            "response": None,
        }

    def _resource(self, record: dict[str, Any]) -> dict[str, Any]:
        media = record["media_url"]
        sid = ("MM" if media else "SM") + secrets.token_hex(16)
        uri = f"/{API_VERSION}/Accounts/{record['account_sid']}/Messages/{sid}"
        service = record["messaging_service_sid"] or None
        from_ = record["from_"] or None
        if record["form"].get("ScheduleType"):
            status = "scheduled"
        elif service and not from_:
            status = "accepted"  # Twilio picks the sender from the service's pool later
        else:
            status = "queued"
        body = record["body"] or ""
        now = _rfc2822(record["received_at"])
        resource = {
            "body": body,
            "num_segments": str(segments(body)) if from_ else "0",
            "direction": "outbound-api",
            "from": from_,
            "to": record["to"],
            "date_updated": now,
            "price": None,
            "error_message": None,
            "uri": uri + ".json",
            "account_sid": record["account_sid"],
            "num_media": str(len(media)),
            "status": status,
            "messaging_service_sid": service,
            "sid": sid,
            "date_sent": None,
            "date_created": now,
            "error_code": None,
            "price_unit": "USD",
            "api_version": API_VERSION,
            "subresource_uris": {"media": uri + "/Media.json"},
        }
        assert tuple(resource) == MESSAGE_PROPERTIES
        return resource

    def _fetch(self, request: Request, account: str, sid: str) -> Response:
        self._authenticate(request, account)
        if not MESSAGE_SID_RE.match(sid):
            raise TwilioError(404, 20404)
        with self._lock:
            for record in self._messages:
                if record["sid"] == sid and record["account_sid"] == account:
                    return _json_response(record["response"], 200)
        raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")

    # -- media --

    def _media_route(
        self, request: Request, endpoint: str, args: dict[str, str]
    ) -> tuple[Response, float]:
        """A media API request, recorded in ``media_requests`` whatever the answer."""
        with self._lock:
            delay = self._media_delays.pop(0) if self._media_delays else 0.0
        record: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "media_sid": args["sid"],
            "authorized": self._has_credentials(request),
            "status": None,
            "code": None,
            "injected": False,
            "received_at": datetime.now(UTC),
        }
        try:
            response = self._media_answer(request, endpoint, args, record)
            record["status"] = response.status_code
        except TwilioError as error:
            record.update(status=error.status, code=error.code)
            response = _json_response(error.payload(), error.status)
        with self._changed:
            self._media_requests.append(record)
            self._changed.notify_all()
        return response, delay

    def _media_answer(
        self, request: Request, endpoint: str, args: dict[str, str], record: dict[str, Any]
    ) -> Response:
        """GET: the redirect (MediaUrl) or the resource (``.json``); DELETE (``.json``): 204.

        DELETE on the bare MediaUrl is refused: Twilio documents only the ``.json`` URI, and
        a stand-in that took more than Twilio promises would let a wrong worker pass.
        """
        allowed = ("GET", "DELETE") if endpoint == "media" else ("GET",)
        if request.method not in allowed:
            raise TwilioError(405, 20004)
        account, message, sid = args["account"], args["message"], args["sid"]
        self._authenticate(request, account)
        with self._lock:
            fault = self._media_faults.pop(0) if self._media_faults else None
        if fault is not None:
            record["injected"] = True
            raise TwilioError(*fault)
        not_found = TwilioError(404, 20404, f"The requested resource {request.path} was not found")
        if not MESSAGE_SID_RE.match(message) or not MEDIA_SID_RE.match(sid):
            raise not_found
        if request.method == "DELETE":
            if not self.cdn.delete(sid, account, message):
                raise not_found
            response = Response(status=204)
            response.headers["Twilio-Request-Id"] = "RQ" + secrets.token_hex(16)
            return response
        file = self.cdn.find(sid, account, message)
        if file is None:
            raise not_found
        if endpoint == "media":
            return _json_response(self._media_resource(file), 200)
        response = Response(status=307)
        response.headers["Location"] = self.cdn.signed_url(file)
        response.headers["Twilio-Request-Id"] = "RQ" + secrets.token_hex(16)
        return response

    @staticmethod
    def _media_uri(file: MediaFile) -> str:
        account, message = file.account_sid, file.message_sid
        return f"/{API_VERSION}/Accounts/{account}/Messages/{message}/Media/{file.sid}"

    def _media_resource(self, file: MediaFile) -> dict[str, Any]:
        created = _rfc2822(file.date_created)
        resource = {
            "account_sid": file.account_sid,
            "content_type": file.content_type,
            "date_created": created,
            "date_updated": created,
            "parent_sid": file.message_sid,
            "sid": file.sid,
            "uri": self._media_uri(file) + ".json",
        }
        assert tuple(resource) == MEDIA_PROPERTIES
        return resource
