"""Media jobs: the message's files fetched before its transaction, Twilio's copies deleted after.

Fetching is HTTP to Twilio and may take seconds, so it never happens while the handling
transaction (and, on SQLite, the database's write lock) is open: the inbound job finds it
needs the files, rolls back, fetches and stores them (``bot.media.fetch``), and handles the
message again with the results. A file already stored is found by its hash, so a retried job
costs a download, never a second copy.

Twilio keeps every inbound file until it is deleted; a phone's photos should not linger in a
third party's store. Once the message's transaction has committed (its kept files are safe in
ours), each of Twilio's copies is deleted by its own job through the official client
(``DELETE …/Messages/<SID>/Media/<ME…>.json``). A failed delete is retried with back-off, then
by the sweeper; ``ledgerbot doctor`` warns about copies still there after an hour.
"""

from __future__ import annotations

import logging
import threading

import requests
from rq import get_current_job
from sqlalchemy import select, update
from twilio.base.exceptions import TwilioRestException

from bot.media.fetch import fetch_all, twilio_media
from bot.media.store import MediaStore
from bot.messaging.models import TwilioMedia
from bot.ops import services as services_module
from bot.worker.observe import now, observed
from ledger.db import insert_ignoring_conflicts, transaction

log = logging.getLogger(__name__)

_http = threading.local()


class TransientDeleteError(RuntimeError):
    """Twilio did not delete the file now; RQ retries the job with back-off."""


def store_of(settings) -> MediaStore:
    return MediaStore(settings.resolved_media_dir)


def _session() -> requests.Session:
    """One keep-alive HTTP session per worker thread for media downloads."""
    session = getattr(_http, "session", None)
    if session is None:
        session = _http.session = requests.Session()
    return session


def fetch_files(services, items: list[dict], message_sid: str) -> list[dict]:
    """The message's files, kept or refused (``bot.media.fetch.fetch_all``)."""
    job = get_current_job()
    last_try = job is not None and job.retries_left is not None and job.retries_left <= 0
    settings = services.settings
    return fetch_all(
        items, settings, store_of(settings), _session(), last_try=last_try, message_sid=message_sid
    )


def record_twilio_copies(
    session, settings, inbound_id: int, message_sid: str, items: list[dict]
) -> list[int]:
    """Rows for Twilio's copies of this message's files, to delete after the commit; ids."""
    ids = []
    for item in items:
        ref = twilio_media(str(item.get("url") or ""), settings, message_sid)
        if ref is None:
            continue
        stamp = now()
        row_id = insert_ignoring_conflicts(
            session,
            TwilioMedia.__table__,
            {
                "inbound_id": inbound_id,
                "url": ref.url,
                "status": "pending",
                "attempts": 0,
                "created_at": stamp,
                "updated_at": stamp,
            },
        )
        if row_id is not None:
            ids.append(row_id)
    return ids


def pending_copies(session, inbound_id: int) -> list[int]:
    return list(
        session.scalars(
            select(TwilioMedia.id).where(
                TwilioMedia.inbound_id == inbound_id, TwilioMedia.status == "pending"
            )
        )
    )


@observed
def delete_twilio_media(row_id: int) -> str:
    services = services_module.current()
    with services.read_sessions() as session:
        row = session.get(TwilioMedia, row_id)
        url = row.url if row is not None and row.status == "pending" else None
    if url is None:
        return "nothing to delete"
    ref = twilio_media(url, services.settings)
    if ref is None or services.twilio is None:
        return "not ours to delete"  # the settings changed since it was recorded
    error = None
    try:
        services.twilio.messages(ref.message_sid).media(ref.media_sid).delete()
    except TwilioRestException as exc:
        if exc.status != 404:  # 404: already gone, which is what we wanted
            error = f"HTTP {exc.status} code {exc.code}: {exc.msg}"
    except requests.RequestException as exc:
        error = f"network: {type(exc).__name__}"
    with transaction(services.sessions) as session:
        values = {"updated_at": now(), "attempts": TwilioMedia.attempts + 1}
        values.update({"last_error": error[:500]} if error else {"status": "deleted"})
        session.execute(update(TwilioMedia).where(TwilioMedia.id == row_id).values(**values))
    if error:
        log.warning("Twilio's copy of media %s not deleted (%s); will retry", ref.media_sid, error)
        raise TransientDeleteError(error)
    log.info("Twilio's copy of media %s deleted", ref.media_sid)
    return "deleted"
