"""Inbound media for the Twilio stand-in: the files messages carry, and the CDN that serves them.

How real Twilio hands out an inbound WhatsApp/MMS file, which is what the bot's worker has to
get right: the webhook's ``MediaUrl0`` is
``https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}``;
a GET on it with the account's Basic auth answers 307 to a short-lived, pre-signed URL on a CDN
host, which serves the bytes with their Content-Type and wants no credentials. The stand-in
(``twilio_server.TwilioStandIn``) answers the API part. This module holds the files
(``MediaStore``) and runs the CDN as a second ``LocalServer`` on a port of its own. A different
port is a different origin, so an HTTP client that follows the redirect drops the Authorization
header as it would on the way to the real CDN (``requests`` and ``httpx`` both do), and
``MediaStore.requests`` shows whether it did: credentials must never reach a third party.

CDN URLs are ``{cdn}/media.twiliocdn.com/{AccountSid}/{MediaSid}?Expires={unix}&Signature={hex}``,
the signature an HMAC with a secret of the store, so they cannot be guessed or edited. Answers,
errors in S3's XML shape (the real CDN is S3):

=====  ==============  ========================================================================
HTTP   S3 code         when
=====  ==============  ========================================================================
200                    GET or HEAD with a valid signature: the bytes, with the Content-Type the
                       file was registered with (even when it lies) and their Content-Length
403    AccessDenied    a path that was never signed, a wrong or missing signature, a method
                       other than GET and HEAD, or past ``Expires`` (``ttl`` after the redirect)
404    NoSuchKey       the media was deleted through the API, or forgotten by ``clear()``
=====  ==============  ========================================================================

``stream_next`` makes the next 200 answers misbehave (no or a lying Content-Length, more bytes
than the file, a slow trickle), for the worker's size cap and deadline.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from .recording_server import LocalServer

MEDIA_SID_RE = re.compile(r"^ME[0-9a-fA-F]{32}$")
_MEDIA_SID_IN = re.compile(r"ME[0-9a-fA-F]{32}")
_CDN_PATH = re.compile(r"^/media\.twiliocdn\.com/(AC[0-9a-fA-F]{32})/(ME[0-9a-fA-F]{32})$")


def new_media_sid() -> str:
    return "ME" + secrets.token_hex(16)


def media_sid_of(url_or_sid: str) -> str:
    """The MediaSid in a MediaUrl, a ``….json`` resource URI, a CDN URL or a bare sid."""
    path = url_or_sid.split("?", 1)[0].removesuffix(".json")
    found = _MEDIA_SID_IN.findall(path)
    if not found or not path.endswith(found[-1]):
        raise ValueError(f"no MediaSid at the end of {url_or_sid!r}")
    return found[-1]


@dataclass
class MediaFile:
    """One stored file. ``deleted_at`` is set once Twilio's copy is deleted through the API."""

    sid: str
    account_sid: str
    message_sid: str
    data: bytes
    content_type: str
    date_created: datetime
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class _Stream:
    size: int | None
    content_length: int | None
    chunk_size: int
    chunk_delay: float


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    )
    return Response(body, status=status, mimetype="application/xml")


class MediaStore:
    """The stand-in's media files and the CDN server that hands them out on signed URLs.

    Thread-safe; the stand-in starts and stops it with itself, on the same port each time
    (so a CDN URL from before an outage works after it, until it expires). ``ttl`` is how long a
    signed URL is good for, in whole seconds as in S3 (a negative one gives expired URLs).
    """

    def __init__(self, *, port: int = 0, ttl: int = 300) -> None:
        self.ttl = ttl
        self._server = LocalServer(self._wsgi, port=port, name="twilio-media-cdn")
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._files: dict[str, MediaFile] = {}
        self._requests: list[dict[str, Any]] = []
        self._streams: list[_Stream] = []

    # -- the files --

    def add(self, data: bytes, content_type: str, account_sid: str, message_sid: str) -> MediaFile:
        file = MediaFile(
            sid=new_media_sid(),
            account_sid=account_sid,
            message_sid=message_sid,
            data=bytes(data),
            content_type=content_type,
            date_created=datetime.now(UTC),
        )
        with self._lock:
            self._files[file.sid] = file
        return file

    def get(self, sid: str) -> MediaFile:
        """The file with this sid, deleted or not; KeyError if it was never added."""
        with self._lock:
            return self._files[sid]

    def find(self, sid: str, account_sid: str, message_sid: str) -> MediaFile | None:
        """The file if it exists, is not deleted and belongs to that account and message."""
        with self._lock:
            return self._live(sid, account_sid, message_sid)

    def delete(self, sid: str, account_sid: str, message_sid: str) -> bool:
        """Delete Twilio's copy; False if there was none (unknown, other parent, or deleted)."""
        with self._lock:
            file = self._live(sid, account_sid, message_sid)
            if file is None:
                return False
            file.deleted_at = datetime.now(UTC)
            return True

    def _live(self, sid: str, account_sid: str, message_sid: str) -> MediaFile | None:
        file = self._files.get(sid)
        if file is None or file.deleted_at is not None:
            return None
        if (file.account_sid, file.message_sid) != (account_sid, message_sid):
            return None
        return file

    def clear(self) -> None:
        """Forget every file, recorded CDN request and pending ``stream_next``."""
        with self._lock:
            self._files.clear()
            self._requests.clear()
            self._streams.clear()

    # -- the CDN --

    @property
    def url(self) -> str:
        """The CDN's origin, ``http://127.0.0.1:{port}``: not the API's, so not its credentials."""
        return self._server.url

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        """Stop serving and cut open connections (and any ``stream_next`` trickle)."""
        self._server.stop()

    def signed_url(self, file: MediaFile) -> str:
        """A fresh CDN URL for the file, good for ``ttl`` seconds: where the API redirects."""
        expires = str(int(time.time()) + self.ttl)
        signature = self._sign(file.account_sid, file.sid, expires)
        return (
            f"{self.url}/media.twiliocdn.com/{file.account_sid}/{file.sid}"
            f"?Expires={expires}&Signature={signature}"
        )

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request the CDN received, oldest first (see ``TwilioStandIn.cdn_requests``)."""
        with self._lock:
            return list(self._requests)

    def stream_next(
        self,
        n: int = 1,
        *,
        size: int | None = None,
        content_length: int | None = None,
        chunk_size: int = 64 * 1024,
        chunk_delay: float = 0.0,
    ) -> None:
        """Serve the next ``n`` CDN answers that would be 200 as a stream that misbehaves.

        The body is the file's bytes repeated (or cut) to ``size`` bytes (default: the file as
        is), sent in ``chunk_size`` pieces with ``chunk_delay`` seconds before each one, the
        first too, so a delay holds the headers back as well. ``content_length`` is the length
        announced; None (the default) announces none, so the answer is chunked and a client can
        only learn its size by reading it. HTTP framing means a client reads at most an
        announced length, so the danger is the unannounced (or over-announced) body: a cap on
        what is read, not a check of the header, is what keeps a worker safe.
        """
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        with self._lock:
            self._streams.extend([_Stream(size, content_length, chunk_size, chunk_delay)] * n)

    def _sign(self, account_sid: str, sid: str, expires: str) -> str:
        message = f"{account_sid}\n{sid}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        record = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string.decode("latin-1"),
            "authorization": request.headers.get("Authorization"),
            "headers": dict(request.headers),
            "media_sid": None,
            "status": None,
            "received_at": datetime.now(UTC),
        }
        response = self._answer(request, record)
        record["status"] = response.status_code
        with self._lock:
            self._requests.append(record)
        return response(environ, start_response)

    def _answer(self, request: Request, record: dict[str, Any]) -> Response:
        match = _CDN_PATH.match(request.path)
        if match is None:
            return _s3_error(403, "AccessDenied", "Access Denied")
        account_sid, sid = match.groups()
        record["media_sid"] = sid
        expires = request.args.get("Expires", "")
        signature = request.args.get("Signature", "")
        expected = self._sign(account_sid, sid, expires)
        if request.method not in ("GET", "HEAD") or not hmac.compare_digest(signature, expected):
            return _s3_error(403, "AccessDenied", "Access Denied")
        if int(expires) < time.time():
            return _s3_error(403, "AccessDenied", "Request has expired")
        with self._lock:
            file = self._files.get(sid)
            if file is None or file.deleted_at is not None:
                return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
            stream = self._streams.pop(0) if self._streams else None
        if stream is None:
            response = Response(file.data, status=200)
        else:
            response = Response(
                self._pieces(file.data, stream), status=200, direct_passthrough=True
            )
            if stream.content_length is not None:
                response.headers["Content-Length"] = str(stream.content_length)
        del response.headers["Content-Type"]
        if file.content_type:
            response.headers["Content-Type"] = file.content_type
        response.headers["Cache-Control"] = "private, max-age=0"
        return response

    def _pieces(self, data: bytes, stream: _Stream) -> Iterator[bytes]:
        size = len(data) if stream.size is None else stream.size
        source = data or b"\0"
        sent = 0
        while sent < size:
            if stream.chunk_delay and self._server.stopping.wait(stream.chunk_delay):
                return  # the CDN is stopping; its connections are being cut
            count = min(stream.chunk_size, size - sent)
            start = sent % len(source)
            repeats = (start + count) // len(source) + 1
            yield (source * repeats)[start : start + count]
            sent += count
