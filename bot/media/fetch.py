"""The only code that requests a MediaUrl: Twilio's own links of this account, nothing else.

A ``MediaUrl`` is whatever the webhook form said. It is fetched only when it is exactly a
Twilio media resource — the configured Twilio API origin (``TWILIO_API_URL``), the path
``/2010-04-01/Accounts/<our AccountSid>/Messages/<SID>/Media/ME…`` — so a forged or mistaken
link can never make the worker request an internal address (server-side request forgery);
such a link is refused and recorded, never requested. Twilio answers the authenticated GET
with a redirect to a short-lived signed URL on its CDN; the credentials go only to the API
origin, never to the redirect's target (which needs none). Reads are capped at the largest
accepted size and bounded by a deadline, so a slow or endless answer cannot hold a worker.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from bot.media.clean import MAX_BYTES, Refused, clean
from bot.media.store import MediaStore

log = logging.getLogger(__name__)

MEDIA_PATH = re.compile(
    r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages/((?:MM|SM)[0-9a-f]{32})/Media/(ME[0-9a-f]{32})"
)
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 10.0
DEADLINE_S = 30.0  # all of a message's files, redirects included (the job's timeout is 60 s)
MAX_REDIRECTS = 3
CHUNK = 64 * 1024
GONE = {404, 410}
TRANSIENT = {408, 425, 429, 500, 502, 503, 504}


class TransientFetchError(RuntimeError):
    """Twilio could not hand the file over now; the inbound job is retried later."""


@dataclass(frozen=True)
class MediaRef:
    """A MediaUrl that is one of Twilio's media resources of this account."""

    url: str
    message_sid: str
    media_sid: str


def twilio_media(url: str, settings, message_sid: str | None = None) -> MediaRef | None:
    """``url`` as a Twilio media resource of this account (and of ``message_sid``, the
    message it came with, when given), or None: then it is never requested."""
    if not url.isascii() or any(ch <= " " or ch == "\x7f" for ch in url) or "@" in url:
        return None  # urlsplit drops tabs and newlines anywhere; userinfo has no business here
    try:
        parts, api = urlsplit(url), urlsplit(settings.twilio_api_url)
        same_origin = (
            parts.scheme.lower() == api.scheme.lower()
            and (parts.hostname or "") == (api.hostname or "").lower()
            and _port(parts) == _port(api)
            and not parts.username
            and not parts.password
        )
    except ValueError:  # a port that is not a number, a broken IPv6 literal
        return None
    match = MEDIA_PATH.fullmatch(parts.path)
    if not same_origin or not match or parts.query or parts.fragment:
        return None
    if match.group(1) != settings.twilio_account_sid:
        return None
    if message_sid is not None and match.group(2) != message_sid:
        return None
    return MediaRef(url, match.group(2), match.group(3))


def _port(parts) -> int | None:
    return parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())


def fetch_all(
    items: list[dict],
    settings,
    store: MediaStore,
    http: requests.Session,
    *,
    last_try: bool,
    message_sid: str | None = None,
) -> list[dict]:
    """Each of the message's files, kept (stored, cleaned) or refused with the reason.

    All of them within one DEADLINE_S, well inside the job's timeout, whatever their number.
    Raises TransientFetchError when Twilio could not answer and the job will be retried; on
    ``last_try`` that file is refused instead, so the contributor still hears back."""
    deadline = time.monotonic() + DEADLINE_S
    results, seen = [], {}
    for position, item in enumerate(items, start=1):
        declared = str(item.get("content_type") or "")
        url = str(item.get("url") or "")
        try:
            ref = twilio_media(url, settings, message_sid)
            if ref is None:
                log.warning("media %s refused: not a Twilio media link of this account", position)
                raise Refused("it was not a Twilio media link of this account, so not fetched")
            if not settings.twilio_configured:
                raise Refused("files cannot be fetched without Twilio credentials (dev mode)")
            if url not in seen:  # the same link twice is one download
                data = _download(ref, settings, http, deadline, last_try)
                # Cleaning a PDF may take seconds (bot.media.pdf, 10 s at most): none is started
                # past the deadline, so a message's files stay well inside the job's timeout.
                if time.monotonic() > deadline:
                    raise Refused("the message's files took too long; send fewer at a time")
                seen[url] = clean(data, declared)
            cleaned = seen[url]
        except Refused as exc:
            results.append({"status": "refused", "reason": str(exc), "declared": declared[:40]})
            continue
        results.append(
            {
                "status": "kept",
                "sha256": store.put(cleaned.data),
                "size": len(cleaned.data),
                "content_type": cleaned.content_type,
                "declared": declared[:40],
            }
        )
    return results


def _download(
    ref: MediaRef, settings, http: requests.Session, deadline: float, last_try: bool
) -> bytes:
    api_origin = _origin(urlsplit(ref.url))
    url = ref.url
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            auth = (
                (settings.twilio_account_sid, settings.twilio_auth_token)
                if _origin(parts) == api_origin
                else None
            )
            left = deadline - time.monotonic()
            if left <= 0:
                return _transient("too slow", last_try)
            with http.get(
                url,
                auth=auth,
                stream=True,
                allow_redirects=False,
                timeout=(min(CONNECT_TIMEOUT_S, left), min(READ_TIMEOUT_S, left)),
            ) as response:
                if response.is_redirect:
                    url = _redirect_target(url, response.headers.get("Location", ""), api_origin)
                    continue
                return _body(response, deadline, last_try)
    except requests.RequestException as exc:  # refused, reset, cut mid-body, a bad URL
        return _transient(f"network: {type(exc).__name__}", last_try)
    raise Refused("Twilio redirected it too many times")


def _origin(parts) -> tuple[str, str, int | None]:
    return parts.scheme.lower(), (parts.hostname or "").lower(), _port(parts)


def _redirect_target(url: str, location: str, api_origin) -> str:
    """Where Twilio sends us: https (or the API's own scheme, for a local stand-in) only."""
    target = urljoin(url, location)
    scheme = urlsplit(target).scheme.lower()
    if not location or scheme not in ("https", api_origin[0]):
        raise Refused("Twilio's answer pointed somewhere that is not a secure link")
    return target


def _body(response: requests.Response, deadline: float, last_try: bool) -> bytes:
    status = response.status_code
    if status in GONE:
        raise Refused("Twilio no longer has it")
    if status in TRANSIENT or status >= 500 or status in (401, 403):
        if status in (401, 403):  # credentials being rotated, or wrong: retry, and say so
            log.error("Twilio refused our credentials for a media file (HTTP %s)", status)
        return _transient(f"HTTP {status}", last_try)
    if status != 200:
        raise Refused(f"Twilio would not hand it over (HTTP {status})")
    announced = response.headers.get("Content-Length", "")
    if announced.isdigit() and int(announced) > MAX_BYTES:
        raise Refused(f"it is over {MAX_BYTES // (1024 * 1024)} MB")
    # read1 returns as soon as any bytes arrive (a full-chunk read would wait for all of it),
    # so the deadline is looked at between reads; a timer cuts the connection at the deadline
    # too, for a server that sends nothing at all.
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _cut, (response,))
    watchdog.daemon = True
    watchdog.start()
    try:
        chunks, total = [], 0
        while chunk := response.raw.read1(CHUNK):
            total += len(chunk)
            if total > MAX_BYTES:
                raise Refused(f"it is over {MAX_BYTES // (1024 * 1024)} MB")
            if time.monotonic() > deadline:
                return _transient("too slow", last_try)
            chunks.append(chunk)
    except (
        requests.RequestException,
        urllib3.exceptions.HTTPError,
        OSError,
        ValueError,
        AttributeError,
    ) as exc:  # AttributeError: http.client read from a closed response
        late = time.monotonic() >= deadline  # the watchdog cut it under the read
        return _transient("too slow" if late else f"network: {type(exc).__name__}", last_try)
    finally:
        watchdog.cancel()
    return b"".join(chunks)


def _cut(response: requests.Response) -> None:
    """Shut the connection's socket down (closing alone does not wake a read in progress)."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    response.close()


def _transient(why: str, last_try: bool) -> bytes:
    if last_try:
        raise Refused("Twilio did not hand it over in time; please send it again")
    raise TransientFetchError(f"media fetch failed ({why}); will retry")
