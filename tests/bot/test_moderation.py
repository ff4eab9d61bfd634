"""Moderation by text: only moderators, one decision per item, receipts to the right people."""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import re
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from bot.cli import cli
from bot.messaging.models import Contact, OutboundMessage
from bot.moderation.models import ModeratorAlert
from bot.ops.services import install
from bot.transparency.receipt import verify_receipt
from bot.worker.sweeper import sweep
from ledger.chain import verify
from ledger.models import Decision, Evidence, LedgerEntry, SignedCheckpoint
from tests.support.messaging import drain, inbound_params, post_signed
from tests.test_helpers import count, load_demo

MODERATOR = "+15550000001"  # in MODERATOR_NUMBERS (tests/conftest.py)
ASKER = "+15551230001"
CONTRIBUTOR = "+15551230002"
STRANGER = "+15551230003"
NUMBERS = (MODERATOR, ASKER, CONTRIBUTOR, STRANGER)


def text(client, services, twilio, sender, body, whatsapp=False) -> list[str]:
    before = len(twilio.messages)
    assert post_signed(client, inbound_params(sender, body, whatsapp=whatsapp)).status_code == 200
    drain(services)
    return [m["body"] for m in twilio.messages[before:] if m["to"].endswith(sender)]


def texts_to(twilio, number) -> list[str]:
    return [m["body"] for m in twilio.messages if m["to"].endswith(number)]


@pytest.fixture
def queued(client, services, twilio):
    """An asker's question and two contributions waiting for review."""
    load_demo(services)
    text(client, services, twilio, ASKER, "semax|does it raise BDNF in stroke patients?")
    text(client, services, twilio, CONTRIBUTOR, "ingest semax|q:1|In rats, Semax raised BDNF 1.4x")
    text(
        client, services, twilio, CONTRIBUTOR, "ingest semax|q:1|110 patients after stroke, PMID 1"
    )
    return services


@pytest.mark.parametrize(
    "body", ["pending", "pending semax", "show E1", "approve E1", "reject E1 spam"]
)
def test_stranger_is_refused_and_nothing_changes(client, services, twilio, queued, body):
    [reply] = text(client, services, twilio, STRANGER, body)
    assert reply.startswith("Not authorized")
    assert count(services, Decision) == 0
    with services.sessions() as session:
        assert set(session.scalars(select(Evidence.status))) == {"pending"}


def test_pending_lists_oldest_first_with_suggestions(client, services, twilio, queued):
    [reply] = text(client, services, twilio, MODERATOR, "pending")
    assert reply.index("E1 semax q:1") < reply.index("E2 semax q:1")
    assert "(preclinical)" in reply and "(human)" in reply
    assert "2 waiting" in reply
    [other] = text(client, services, twilio, MODERATOR, "pending bpc-157")
    assert other == "Nothing waits for review on bpc-157."


def test_show_gives_the_whole_item(client, services, twilio, queued):
    [reply] = text(client, services, twilio, MODERATOR, "show E2")
    assert "q:1" in reply and "does it raise BDNF in stroke patients?" in reply
    assert "pmids: 1" in reply
    assert "Suggested: human" in reply
    assert "Paste: 110 patients after stroke, PMID 1" in reply


def test_approve_appends_entries_and_sends_receipts(client, services, twilio, queued):
    [reply] = text(client, services, twilio, MODERATOR, "approve E1")
    match = re.search(r"approved as preclinical: ledger entry #(\d+) \(([0-9a-f]{16})\)", reply)
    assert match, reply
    seq, short_hash = int(match.group(1)), match.group(2)
    assert reply.endswith("Texted the contributor and asker.")
    with services.sessions() as session:
        entry = session.get(LedgerEntry, seq)
        assert entry.kind == "evidence" and entry.hash.startswith(short_hash)
        payload = json.loads(entry.payload)
        assert payload["tier"] == "preclinical" and payload["node_id"] == 1
        assert payload["paste"] == "In rats, Semax raised BDNF 1.4x"
        moderation = session.get(LedgerEntry, seq + 1)
        assert moderation.kind == "moderation"
        assert json.loads(moderation.payload)["evidence_seq"] == seq
    receipt = texts_to(twilio, CONTRIBUTOR)[-1]
    assert_receipt_proves(client, services, receipt, seq, short_hash)
    arrived = texts_to(twilio, ASKER)[-1]
    assert "New preclinical evidence arrived on your question q:1" in arrived


def assert_receipt_proves(client, services, receipt: str, seq: int, short_hash: str) -> None:
    """The receipt is one SMS segment naming the entry, a signed tree that holds it, and a
    link whose proof verifies offline against the log's key (and the digits in the text)."""
    match = re.fullmatch(
        r"E\d+ approved \((\w+)\): entry #(\d+) hash ([0-9a-f]{16}), tree (\d+) root "
        r"([0-9a-f]{16})\. Proof: (\S+)/r/(\d+)( Thank you!)?",
        receipt,
    )
    assert match, receipt
    assert len(receipt) <= 160 and receipt.isascii()
    assert (int(match.group(2)), match.group(3), int(match.group(7))) == (seq, short_hash, seq)
    size, root16 = int(match.group(4)), match.group(5)
    with services.sessions() as session:
        signed = session.get(SignedCheckpoint, size)
        assert signed is not None and signed.root.hex().startswith(root16) and size >= seq
    page = client.get(f"/r/{seq}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and short_hash in html
    assert f"size {size}, root <code>{root16}" in html  # the page proves what the text names
    proof = client.get(f"/api/ledger/{seq}/proof?size={size}").get_data(as_text=True)
    found = verify_receipt(
        proof, services.log_key.vkey, hash_prefix=short_hash, size=size, root_prefix=root16
    )
    assert found.checkpoint.size == size and found.checkpoint.root.hex().startswith(root16)


def test_approve_with_an_explicit_tier(client, services, twilio, queued):
    text(client, services, twilio, MODERATOR, "approve E2 anecdotal")
    with services.sessions() as session:
        assert session.get(Evidence, 2).tier == "anecdotal"


def test_reject_records_only_a_keyed_digest_of_the_paste(client, services, twilio, queued):
    [reply] = text(client, services, twilio, MODERATOR, "reject E2 no source given")
    assert "E2 rejected" in reply
    with services.sessions() as session:
        last = session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq.desc())).first()
        payload = json.loads(last.payload)
        paste = session.get(Evidence, 2).paste.encode()
    assert last.kind == "moderation" and payload["decision"] == "rejected"
    assert payload["reason"] == "no source given" and "110 patients" not in last.payload
    assert "paste_sha256" not in payload
    # An HMAC under a key derived from the deployment's secret: recomputable with the key,
    # not from the paste alone (a plain SHA-256 of a short paste can be brute-forced).
    key = hmac.new(services.secret_key.encode(), b"ledgerbot paste digest v1", "sha256").digest()
    assert payload["paste_hmac_sha256"] == hmac.new(key, paste, "sha256").hexdigest()
    assert payload["paste_hmac_sha256"] != hashlib.sha256(paste).hexdigest()
    assert texts_to(twilio, CONTRIBUTOR)[-1] == "Your evidence E2 was not added: no source given"
    assert all("arrived" not in body for body in texts_to(twilio, ASKER))


def test_second_decision_changes_nothing_and_names_the_first(client, services, twilio, queued):
    text(client, services, twilio, MODERATOR, "reject E1 duplicate")
    entries = count(services, LedgerEntry)
    [reply] = text(client, services, twilio, MODERATOR, "approve E1")
    assert "E1 was already rejected by you" in reply
    assert count(services, LedgerEntry) == entries
    assert count(services, Decision) == 1


def moderators_cli(services, *args):
    """The CLI installs its own process-wide services; put the test's back afterwards."""
    env = {
        "DATABASE_URL": services.settings.database_url,
        "INSTANCE_PATH": services.settings.instance_path,
    }
    try:
        return CliRunner().invoke(cli, ["moderators", *args], env=env)
    finally:
        install(services)


def test_moderator_added_by_cli_is_authorized(client, services, twilio, queued):
    result = moderators_cli(services, "add", STRANGER)
    assert result.exit_code == 0, result.output
    # A local command for the operator: the number in full (logs only ever mask it).
    assert STRANGER in result.output
    assert STRANGER in moderators_cli(services, "list").output
    [reply] = text(client, services, twilio, STRANGER, "pending")
    assert "2 waiting" in reply
    assert moderators_cli(services, "remove", STRANGER).exit_code == 0
    [reply] = text(client, services, twilio, STRANGER, "pending")
    assert reply.startswith("Not authorized")


def test_alerts_are_batched_per_moderator(client, services, twilio, queued):
    alerts = texts_to(twilio, MODERATOR)
    assert alerts == ["1 evidence item wait for review. Send: pending"]
    # Ten minutes later the sweeper announces what arrived in the meantime, once.
    with services.sessions.begin() as session:
        session.execute(
            update(ModeratorAlert).values(last_sent_at=datetime.now(UTC) - timedelta(minutes=11))
        )
    sweep(services)
    drain(services)
    assert texts_to(twilio, MODERATOR)[-1] == "2 evidence items wait for review. Send: pending"
    sweep(services)
    drain(services)
    assert len(texts_to(twilio, MODERATOR)) == 2


def test_whatsapp_receipt_outside_24_hours_is_not_sent_without_template(client, services, twilio):
    load_demo(services)
    text(client, services, twilio, CONTRIBUTOR, "semax|q?", whatsapp=True)
    text(client, services, twilio, CONTRIBUTOR, "ingest semax|q:1|a paste", whatsapp=True)
    with services.sessions.begin() as session:
        session.execute(
            update(Contact).values(last_inbound_at=datetime.now(UTC) - timedelta(hours=25))
        )
    text(client, services, twilio, MODERATOR, "approve E1 anecdotal")
    with services.sessions() as session:
        receipt = session.scalar(select(OutboundMessage).where(OutboundMessage.kind == "receipt"))
        assert receipt.status == "not_sent"
        assert "24-hour" in receipt.error_message


class TestWithTemplate:
    @pytest.fixture
    def settings_overrides(self):
        return {"twilio_whatsapp_template_sid": "HX" + "a" * 32}

    def test_whatsapp_receipt_outside_24_hours_uses_the_template(self, client, services, twilio):
        load_demo(services)
        text(client, services, twilio, CONTRIBUTOR, "semax|q?", whatsapp=True)
        text(client, services, twilio, CONTRIBUTOR, "ingest semax|q:1|a paste", whatsapp=True)
        with services.sessions.begin() as session:
            session.execute(
                update(Contact).values(last_inbound_at=datetime.now(UTC) - timedelta(hours=25))
            )
        text(client, services, twilio, MODERATOR, "approve E1 anecdotal")
        sent = [m for m in twilio.messages if m["content_sid"]]
        assert len(sent) == 1 and sent[0]["to"] == "whatsapp:" + CONTRIBUTOR
        assert "approved (anecdotal)" in json.loads(sent[0]["content_variables"])["1"]


def test_no_phone_number_in_any_ledger_entry(client, services, twilio, queued):
    text(client, services, twilio, ASKER, "semax|call me on +1 555 123 0001 about it")
    text(client, services, twilio, MODERATOR, "approve E1")
    text(client, services, twilio, MODERATOR, "reject E2 call +15551230002 instead")
    with services.sessions() as session:
        payloads = " ".join(session.scalars(select(LedgerEntry.payload)))
    squeezed = re.sub(r"[\s().+-]", "", payloads)
    for number in NUMBERS:
        assert number[-10:] not in squeezed
    assert "[number removed]" in payloads


def _decide_in_process(url, barrier, evidence_id, approve, name, results):
    from ledger.db import make_engine, session_factory, transaction
    from ledger.decisions import Decider, decide

    engine = make_engine(url)
    factory = session_factory(engine)
    barrier.wait()
    with transaction(factory) as session:
        outcome = decide(
            session,
            evidence_id,
            approve=approve,
            moderator=Decider(f"p-{name}", name, "web"),
            now=datetime.now(UTC),
            tier="human" if approve else None,
            reason=None if approve else "race",
            paste_key=b"k" * 32,
        )
        results.put((name, outcome.decided))
    engine.dispose()


@pytest.mark.slow
def test_two_moderators_at_the_same_moment_make_one_decision(client, services, twilio, queued):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    url = services.settings.database_url
    processes = [
        context.Process(target=_decide_in_process, args=(url, barrier, 1, True, "alice", results)),
        context.Process(target=_decide_in_process, args=(url, barrier, 1, False, "bob", results)),
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    outcomes = dict(results.get(timeout=5) for _ in processes)
    assert sorted(outcomes.values()) == [False, True]
    assert count(services, Decision) == 1
    with services.sessions() as session:
        kinds = session.scalars(select(LedgerEntry.kind).order_by(LedgerEntry.seq)).all()
        winner = next(name for name, won in outcomes.items() if won)
        expected = ["evidence", "moderation"] if winner == "alice" else ["moderation"]
        assert kinds[-len(expected) :] == expected
        assert kinds.count("moderation") == 1
    with services.engine.connect() as conn:
        assert verify(conn).ok


SMUGGLED_PASTE = (
    "PMID: 29798983. 110 stroke patients; call 555–777–6001 or see "
    "https://example.org/?phone=+15557776001"
)


def test_show_is_exactly_what_approval_publishes(client, services, twilio):
    """Webhook → worker → ``show`` → ``approve`` → ledger: the PMID and the sample size stay,
    both numbers go, and the entry holds byte for byte the paste and links ``show`` gave."""
    load_demo(services)
    text(client, services, twilio, ASKER, "semax|does it help after stroke?")
    text(client, services, twilio, CONTRIBUTOR, f"ingest semax|q:1|{SMUGGLED_PASTE}")
    [shown] = text(client, services, twilio, MODERATOR, "show E1")
    assert "3 numbers will be removed before publishing." in shown
    paste = re.search(r"^Paste: (.*)$", shown, re.M).group(1)
    assert paste == (
        "PMID: 29798983. 110 stroke patients; call [number removed] or see "
        "https://example.org/?phone=[number removed]"
    )
    assert "IDs: urls: https://example.org/?phone=[number removed]; pmids: 29798983" in shown

    text(client, services, twilio, MODERATOR, "approve E1")
    with services.sessions() as session:
        entry = session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "evidence"))
        payload = json.loads(entry.payload)
    assert payload["paste"] == paste
    assert payload["identifiers"]["urls"] == ["https://example.org/?phone=[number removed]"]
    assert payload["identifiers"]["pmids"] == ["29798983"]
    squeezed = re.sub(r"\D", "", entry.payload)
    assert "5557776001" not in squeezed and "29798983" in squeezed
    assert "110 stroke patients" in payload["paste"]
