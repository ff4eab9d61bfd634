"""Evidence that arrives as a file, end to end over real HTTP: the Twilio stand-in serves the
media behind auth and a redirect to its CDN and accepts deletes; the worker fetches, cleans,
stores and deletes; moderators see it; approval publishes it and the ledger commits to it."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import select, update

from bot.cli import cli
from bot.cli import monitor as monitor_cli
from bot.media import fetch as fetch_module
from bot.media.fetch import TransientFetchError, fetch_all
from bot.media.store import MediaStore
from bot.messaging.models import InboundMessage, OutboundMessage, TwilioMedia
from bot.moderation.accounts import add_web_moderator
from bot.ops import doctor
from bot.worker.inbound import process_inbound
from bot.worker.sweeper import sweep
from ledger.db import transaction
from ledger.models import Evidence, LedgerEntry
from tests.support import media_files
from tests.support.messaging import drain, inbound_params, post_signed
from tests.support.recording_server import RecordingServer
from tests.support.settings import ACCOUNT_SID
from tests.test_helpers import load_demo

MODERATOR = "+15550000001"
ASKER = "+15557000001"
CONTRIBUTOR = "+15557000002"
GPS_MARKERS = [b"iPhone", b"Apple", b"2026:11:30", b"GPS"]


def store_of(services) -> MediaStore:
    return MediaStore(services.settings.resolved_media_dir)


def ask(client, services) -> int:
    post_signed(client, inbound_params(ASKER, "semax|what do rats show?"))
    drain(services)
    with services.sessions() as session:
        return session.scalar(
            select(OutboundMessage.body).where(OutboundMessage.to_number == ASKER)
        )


def node_id(services) -> int:
    from ledger.models import QuestionNode

    with services.sessions() as session:
        return session.scalar(select(QuestionNode.id).order_by(QuestionNode.id.desc()).limit(1))


def send_with_files(client, services, twilio, body: str, files, *, sender=CONTRIBUTOR, urls=None):
    """A WhatsApp message with files, as Twilio delivers it: MediaUrl<n> on Twilio's API."""
    sid = "MM" + uuid.uuid4().hex
    params = inbound_params(sender, body, whatsapp=True, sid=sid)
    urls = list(urls or [])
    for data, declared in files:
        urls.append((twilio.add_media(data, declared, message_sid=sid), declared))
    params["NumMedia"] = str(len(urls))
    for index, (url, declared) in enumerate(urls):
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = declared
    assert post_signed(client, params).status_code == 200
    drain(services)
    return sid, [url for url, _ in urls]


def reply_to(services, number: str) -> str:
    with services.sessions() as session:
        return session.scalars(
            select(OutboundMessage.body)
            .where(OutboundMessage.to_number == number)
            .order_by(OutboundMessage.id.desc())
        ).first()


def text(client, services, sender: str, body: str) -> str:
    post_signed(client, inbound_params(sender, body))
    drain(services)
    return reply_to(services, sender)


def latest_evidence(services) -> Evidence:
    with services.sessions() as session:
        return session.scalars(select(Evidence).order_by(Evidence.id.desc())).first()


@pytest.fixture
def demo(client, services) -> int:
    load_demo(services)
    ask(client, services)
    return node_id(services)


def test_a_phone_photo_is_fetched_cleaned_reviewed_approved_and_published(
    client, services, twilio, demo
):
    photo = media_files.phone_photo()
    _sid, [url] = send_with_files(
        client,
        services,
        twilio,
        f"ingest semax|q:{demo}|label of the vial",
        [(photo, "image/jpeg")],
    )

    # Fetched with the account's credentials, through the redirect, which never saw them.
    gets = [r for r in twilio.media_requests if r["method"] == "GET"]
    assert gets and all(r["authorized"] for r in gets)
    assert twilio.cdn_requests and all(r["authorization"] is None for r in twilio.cdn_requests)
    # Twilio's copy deleted once ours was safe.
    assert twilio.media_deleted(url)
    with services.sessions() as session:
        assert session.scalars(select(TwilioMedia.status)).all() == ["deleted"]

    reply = reply_to(services, CONTRIBUTOR)
    assert "Kept 1 file (JPEG, " in reply and reply.startswith("Evidence E")
    evidence = latest_evidence(services)
    [kept] = evidence.media
    stored = store_of(services).read(kept["sha256"])
    assert hashlib.sha256(stored).hexdigest() == kept["sha256"]
    for marker in GPS_MARKERS:  # nobody else ever sees the original bytes
        assert marker not in stored
    assert not Image.open(io.BytesIO(stored)).getexif()
    assert photo not in stored and len(list(store_of(services).files())) == 1

    # Moderators see it, behind the login; the public does not, yet.
    assert client.get(f"/moderate/media/{kept['sha256']}").status_code in (302, 401)
    assert client.get(f"/media/{kept['sha256']}").status_code == 404
    with transaction(services.sessions) as session:
        add_web_moderator(session, "alice", "correct horse battery staple")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/moderate/login").text)[1]
    client.post(
        "/moderate/login",
        data={"username": "alice", "password": "correct horse battery staple", "csrf_token": token},
    )
    page = client.get(f"/moderate/e/{evidence.id}").get_data(as_text=True)
    assert f'src="/moderate/media/{kept["sha256"]}"' in page
    shown = client.get(f"/moderate/media/{kept['sha256']}")
    assert shown.status_code == 200 and shown.data == stored
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in shown.headers["Content-Security-Policy"]
    assert shown.headers["Content-Disposition"].startswith("inline;")
    assert shown.mimetype == "image/jpeg"
    show = text(client, services, MODERATOR, f"show E{evidence.id}")
    assert "Files: JPEG, " in show and f"/moderate/e/{evidence.id}" in show

    # Approved: the entry commits to the file the public then gets.
    approved = text(client, services, MODERATOR, f"approve E{evidence.id} anecdotal")
    assert approved.startswith(f"E{evidence.id} approved")
    with services.sessions() as session:
        entry = session.get(LedgerEntry, latest_evidence(services).ledger_seq)
        [committed] = json.loads(entry.payload)["media"]
    public = client.get(f"/media/{committed['sha256']}")
    assert public.status_code == 200
    assert hashlib.sha256(public.data).hexdigest() == committed["sha256"]
    assert committed == {"sha256": kept["sha256"], "size": len(public.data), "type": "image/jpeg"}
    assert "immutable" in public.headers["Cache-Control"]
    for marker in GPS_MARKERS:
        assert marker not in public.data and marker not in entry.payload.encode()

    # verify re-hashes it; an altered file fails verify.
    verified = CliRunner().invoke(cli, ["verify"], obj=services)
    assert verified.exit_code == 0 and ", 1 files," in verified.output
    store_of(services).path(committed["sha256"]).write_bytes(stored[:-10])
    broken = CliRunner().invoke(cli, ["verify"], obj=services)
    assert broken.exit_code == 1 and "bytes do not hash to it" in broken.output


def test_the_monitor_checks_published_files_over_http(
    client, services, twilio, demo, live_server, tmp_path
):
    send_with_files(
        client,
        services,
        twilio,
        f"ingest semax|q:{demo}|paper",
        [(media_files.small_pdf(), "application/pdf")],
    )
    evidence = latest_evidence(services)
    text(client, services, MODERATOR, f"approve E{evidence.id} human")
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.setLevel(logging.WARNING)
    state = tmp_path / "state"
    argv = [live_server, "--state", str(state), "--vkey", services.log_key.vkey]
    first = CliRunner().invoke(monitor_cli.monitor, argv)
    assert first.exit_code == 0, first.output
    download = requests.get(f"{live_server}/media/{evidence.media[0]['sha256']}", timeout=5)
    assert download.headers["Content-Disposition"].startswith("attachment;")
    # The operator swaps the published PDF: the next monitor run over a fresh state says so.
    store_of(services).path(evidence.media[0]["sha256"]).write_bytes(
        media_files.small_pdf("forged")
    )
    again = CliRunner().invoke(monitor_cli.monitor, [*argv[:2], str(tmp_path / "fresh"), *argv[3:]])
    assert again.exit_code == 2 and "published file" in again.output


def test_a_media_url_on_another_host_is_never_requested(client, services, twilio, demo):
    with RecordingServer() as elsewhere:
        forged_path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'a' * 32}/Media/ME{'b' * 32}"
        other_account = twilio.add_media(media_files.phone_photo(), "image/jpeg").replace(
            ACCOUNT_SID, "AC" + "9" * 32
        )
        another_message = twilio.add_media(media_files.phone_photo(), "image/jpeg")
        urls = [
            (elsewhere.url + forged_path, "image/jpeg"),
            (another_message, "image/jpeg"),
            (elsewhere.url.replace("127.0.0.1", "localhost") + "/latest/meta-data/", "image/png"),
            (other_account, "image/jpeg"),
            ("file:///etc/passwd", "image/png"),
        ]
        twilio_before = len(twilio.media_requests)
        send_with_files(client, services, twilio, f"ingest semax|q:{demo}|see files", [], urls=urls)
        assert elsewhere.requests == []
    assert len(twilio.media_requests) == twilio_before  # not even Twilio, for another account
    reply = reply_to(services, CONTRIBUTOR)
    assert "not a Twilio media link of this account" in reply
    evidence = latest_evidence(services)
    assert [m["status"] for m in evidence.media] == ["refused"] * 5
    assert list(store_of(services).files()) == []
    with services.sessions() as session:
        assert session.scalars(select(TwilioMedia)).all() == []  # nothing of ours to delete


def test_disguised_and_oversized_files_are_refused_with_a_reason(client, services, twilio, demo):
    _, urls = send_with_files(
        client,
        services,
        twilio,
        f"ingest semax|q:{demo}",
        [(media_files.HTML_AS_PNG, "image/png"), (media_files.oversized_jpeg(5.5), "image/jpeg")],
    )
    reply = reply_to(services, CONTRIBUTOR)
    assert reply.startswith("Nothing was queued:")
    assert "it is not a JPEG, PNG or WebP picture or a PDF (it was sent as image/png)" in reply
    assert "the JPEG is over 5 MB" in reply
    assert latest_evidence(services) is None
    assert list(store_of(services).files()) == []
    assert all(twilio.media_deleted(url) for url in urls)  # not kept, and not left at Twilio


def test_a_rejected_items_files_are_deleted_from_the_store(client, services, twilio, demo):
    send_with_files(
        client,
        services,
        twilio,
        f"ingest semax|q:{demo}|blurry",
        [(media_files.screenshot_png(), "image/png")],
    )
    evidence = latest_evidence(services)
    sha256 = evidence.media[0]["sha256"]
    with transaction(services.sessions) as session:  # older than the "just sent again" window
        session.execute(update(Evidence).values(created_at=datetime.now(UTC) - timedelta(hours=2)))
    path = store_of(services).path(sha256)
    stamp = (datetime.now(UTC) - timedelta(minutes=5)).timestamp()
    os.utime(path, (stamp, stamp))
    reply = text(client, services, MODERATOR, f"reject E{evidence.id} unreadable screenshot")
    assert "rejected" in reply
    assert not path.exists()
    assert client.get(f"/media/{sha256}").status_code == 404
    with services.sessions() as session:
        entry = session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq.desc())).first()
    assert sha256 not in entry.payload  # the rejection records no file


def test_a_failed_delete_is_retried_and_shown_by_doctor(client, services, twilio, demo):
    twilio.fail_media_next(1, 500)
    # A photo with a question is not evidence: nothing is fetched, Twilio's copy is deleted.
    _, [url] = send_with_files(
        client,
        services,
        twilio,
        "semax|is this the right vial?",
        [(media_files.phone_photo(), "image/jpeg")],
    )
    assert not twilio.media_deleted(url)
    with services.sessions() as session:
        row = session.scalars(select(TwilioMedia)).one()
    assert row.status == "pending" and row.attempts == 1 and "HTTP 500" in row.last_error
    with transaction(services.sessions) as session:
        session.execute(
            update(TwilioMedia).values(created_at=datetime.now(UTC) - timedelta(hours=2))
        )
    found = {c.name: c for c in doctor.run(services)}["twilio media"]
    assert found.status == "WARN" and "HTTP 500" in found.detail
    # The retry's back-off outlives this test; the sweeper queues it once it is overdue.
    report = sweep(services, now=datetime.now(UTC) + timedelta(minutes=16))
    assert report.media_deletes_queued == 1
    drain(services)
    assert twilio.media_deleted(url)
    assert {c.name: c for c in doctor.run(services)}["twilio media"].status == "OK"


def test_twilio_down_retries_the_message_and_nothing_is_half_done(client, services, twilio, demo):
    sid = "MM" + uuid.uuid4().hex
    url = twilio.add_media(media_files.phone_photo(), "image/jpeg", message_sid=sid)
    params = inbound_params(CONTRIBUTOR, f"ingest semax|q:{demo}|vial", whatsapp=True, sid=sid)
    params.update(NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    assert post_signed(client, params).status_code == 200
    with services.sessions() as session:
        inbound_id = session.scalar(
            select(InboundMessage.id).where(InboundMessage.message_sid == sid)
        )
    twilio.fail_media_next(1, 503)
    with pytest.raises(TransientFetchError):
        process_inbound(inbound_id)
    with services.sessions() as session:
        assert session.get(InboundMessage, inbound_id).status == "received"
        assert session.scalars(select(Evidence)).all() == []
    assert process_inbound(inbound_id) == "handled"  # the retry
    assert process_inbound(inbound_id) == "already handled"
    assert len(latest_evidence(services).media) == 1 and len(list(store_of(services).files())) == 1


def test_a_slow_download_stops_at_its_deadline(services, twilio, monkeypatch):
    monkeypatch.setattr(fetch_module, "DEADLINE_S", 0.5)
    url = twilio.add_media(media_files.small_pdf(), "application/pdf")
    twilio.cdn.stream_next(1, chunk_size=64, chunk_delay=0.05)
    items = [{"url": url, "content_type": "application/pdf"}]
    with pytest.raises(TransientFetchError):
        fetch_all(items, services.settings, store_of(services), requests.Session(), last_try=False)
    twilio.cdn.stream_next(1, chunk_size=64, chunk_delay=0.05)
    [result] = fetch_all(
        items, services.settings, store_of(services), requests.Session(), last_try=True
    )
    assert result["status"] == "refused" and "in time" in result["reason"]


def test_a_trickle_is_cut_at_the_deadline_even_with_a_content_length(services, twilio, monkeypatch):
    monkeypatch.setattr(fetch_module, "DEADLINE_S", 0.5)
    pdf = media_files.small_pdf()
    url = twilio.add_media(pdf, "application/pdf")
    # One byte every 10 ms: each read is well inside the read timeout; only the deadline stops it.
    twilio.cdn.stream_next(1, chunk_size=1, chunk_delay=0.01, content_length=len(pdf))
    started = datetime.now(UTC)
    [refused] = fetch_all(
        [{"url": url, "content_type": "application/pdf"}],
        services.settings,
        store_of(services),
        requests.Session(),
        last_try=True,
    )
    assert (datetime.now(UTC) - started).total_seconds() < 1.5
    assert refused["status"] == "refused" and "in time" in refused["reason"]


def test_a_connection_cut_mid_file_retries_and_then_refuses(services, twilio):
    pdf = media_files.small_pdf()
    url = twilio.add_media(pdf, "application/pdf")
    items = [{"url": url, "content_type": "application/pdf"}]
    twilio.cdn.stream_next(1, content_length=10 * len(pdf))  # announces more than it sends
    with pytest.raises(TransientFetchError):
        fetch_all(items, services.settings, store_of(services), requests.Session(), last_try=False)
    twilio.cdn.stream_next(1, content_length=10 * len(pdf))
    [refused] = fetch_all(
        items, services.settings, store_of(services), requests.Session(), last_try=True
    )
    assert refused["status"] == "refused"


def test_files_with_a_question_or_a_failed_ingest_are_said_to_be_not_kept(
    client, services, twilio, demo
):
    send_with_files(
        client,
        services,
        twilio,
        "semax|is this the vial?",
        [(media_files.phone_photo(), "image/jpeg")],
    )
    assert reply_to(services, CONTRIBUTOR).endswith(
        "(Your file was not kept: files are kept only with ingest slug|q:ID.)"
    )
    send_with_files(
        client,
        services,
        twilio,
        "ingest semax|q:999|label",
        [(media_files.phone_photo(), "image/jpeg")],
    )
    reply = reply_to(services, CONTRIBUTOR)
    assert reply.startswith("q:999 is not a question on ") and "was not kept" in reply


def test_the_same_file_twice_is_one_file_of_the_item(client, services, twilio, demo):
    photo = media_files.phone_photo()
    send_with_files(
        client,
        services,
        twilio,
        f"ingest semax|q:{demo}|vial",
        [(photo, "image/jpeg"), (photo, "image/jpeg")],
    )
    assert "Kept 1 file (JPEG, " in reply_to(services, CONTRIBUTOR)
    assert len(latest_evidence(services).media) == 1


def test_an_item_whose_file_is_gone_cannot_be_approved(client, services, twilio, demo):
    send_with_files(
        client,
        services,
        twilio,
        f"ingest semax|q:{demo}|vial",
        [(media_files.phone_photo(), "image/jpeg")],
    )
    evidence = latest_evidence(services)
    # The waiting list names the file (as WhatsApp's alert does), so a one-tap Approve does
    # not publish it unseen.
    assert "+1 file (JPEG)" in text(client, services, MODERATOR, "pending")
    store_of(services).delete(evidence.media[0]["sha256"])
    reply = text(client, services, MODERATOR, f"approve E{evidence.id} human")
    assert reply.startswith(f"E{evidence.id} cannot be approved: its file 1 is missing")
    assert latest_evidence(services).status == "pending"


def test_a_published_file_answers_304_to_its_etag(client, services, twilio, demo):
    send_with_files(
        client,
        services,
        twilio,
        f"ingest semax|q:{demo}|vial",
        [(media_files.phone_photo(), "image/jpeg")],
    )
    evidence = latest_evidence(services)
    text(client, services, MODERATOR, f"approve E{evidence.id} anecdotal")
    first = client.get(f"/media/{evidence.media[0]['sha256']}")
    again = client.get(
        f"/media/{evidence.media[0]['sha256']}", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304 and again.data == b""


def test_verify_reports_a_file_list_that_is_not_a_hash(services):
    from ledger.chain import append

    with transaction(services.sessions) as session:
        append(
            session,
            "evidence",
            "semax",
            {"media": [{"sha256": "../../etc/passwd", "size": 1, "type": "image/png"}]},
        )
    result = CliRunner().invoke(cli, ["verify"], obj=services)
    assert result.exit_code == 1 and "not a SHA-256" in result.output
