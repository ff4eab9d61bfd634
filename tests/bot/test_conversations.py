"""What people see when they text the bot: replies for each command and each mistake."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.messaging.models import Contact, InboundMessage, OutboundMessage
from bot.parsing import UNKNOWN_HINTS, UnknownReason
from bot.worker.inbound import process_inbound
from bot.worker.sending import send_outbound
from ledger.models import Evidence, LedgerEntry, QuestionNode
from tests.support.messaging import drain, inbound_params, post_signed
from tests.test_helpers import count, load_demo

ASKER = "+15551234567"


@pytest.fixture
def demo(services):
    load_demo(services)


def exchange(client, services, twilio, body, sender=ASKER, whatsapp=False) -> list[str]:
    """Send one text, run the worker, return the bodies texted back to the sender."""
    before = len(twilio.messages)
    assert post_signed(client, inbound_params(sender, body, whatsapp=whatsapp)).status_code == 200
    drain(services)
    return [m["body"] for m in twilio.messages[before:] if m["to"].endswith(sender)]


def test_help_explains_every_command(client, services, twilio):
    [reply] = exchange(client, services, twilio, "help")
    for example in ("semax|", "ingest semax|q:", "STOP", "MORE", "|and"):
        assert example in reply
    assert "Not medical advice" in reply


def test_article_info_lists_counts_and_prompts(client, services, twilio, demo):
    [reply] = exchange(client, services, twilio, "Semax")
    assert reply.startswith("Semax: demo article")
    assert "6 sources" in reply and "2 human, 2 preclinical, 2 anecdotal" in reply
    assert "semax|" in reply and "Not medical advice" in reply


def test_unknown_slug_suggests_the_near_miss(client, services, twilio, demo):
    [reply] = exchange(client, services, twilio, "semx|does it work?")
    assert 'No article "semx"' in reply and "Did you mean semax?" in reply
    assert count(services, QuestionNode) == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("how does this work? tell me everything please", UnknownReason.NO_PIPE),
        ("ingest semax|q:abc|some paste", UnknownReason.BAD_NODE_ID),
        ("ingest semax|q:1|   ", UnknownReason.EMPTY_PASTE),
        ("semax|" + "why " * 200, UnknownReason.QUESTION_TOO_LONG),
        ("ingest semax|q:1|" + "x" * 1700, UnknownReason.PASTE_TOO_LONG),
        ("\u200b ", UnknownReason.EMPTY),
    ],
)
def test_each_mistake_gets_its_own_hint(client, services, twilio, demo, body, reason):
    [reply] = exchange(client, services, twilio, body)
    assert reply.startswith(UNKNOWN_HINTS[reason][:40])
    assert count(services, QuestionNode) == 0


def test_dosing_question_is_saved_but_gets_no_advice(client, services, twilio, demo):
    [reply] = exchange(client, services, twilio, "semax|how much should I take per day?")
    assert "Saved as q:1" in reply
    assert "never gives dosing" in reply
    assert count(services, QuestionNode) == 1


def test_ingest_into_a_node_of_another_article_is_refused(client, services, twilio, demo):
    exchange(client, services, twilio, "semax|first question?")
    [reply] = exchange(client, services, twilio, "ingest semax|q:99|a paste")
    assert "q:99 is not a question on Semax" in reply
    assert count(services, Evidence) == 0


def test_ingest_without_slug_uses_the_nodes_article(client, services, twilio, demo):
    exchange(client, services, twilio, "semax|first question?")
    [reply] = exchange(client, services, twilio, "ingest q:1|Patients in a randomized trial")
    assert "Evidence E1 is queued" in reply and "suggested tier: human" in reply


def test_follow_up_uses_the_last_article(client, services, twilio, demo):
    exchange(client, services, twilio, "semax|first question?")
    [reply] = exchange(client, services, twilio, "|and in healthy people?")
    assert "Saved as q:2 on Semax" in reply


def test_follow_up_without_context_says_what_to_send(client, services, twilio, demo):
    [reply] = exchange(client, services, twilio, "|and in healthy people?")
    assert "you have not asked about one yet" in reply and "article|question" in reply
    assert "30 minutes" not in reply  # this number never texted before: nothing expired


def test_more_says_what_is_true(client, services, twilio, demo):
    """MORE once answered "the last one was over 30 minutes ago" to a brand-new number."""
    [never] = exchange(client, services, twilio, "MORE")
    assert "you have not asked one yet" in never and "30 minutes" not in never
    exchange(client, services, twilio, "semax|?")
    [after_article] = exchange(client, services, twilio, "more")
    assert "asked none" in after_article and "semax|your question" in after_article
    assert "30 minutes" not in after_article
    exchange(client, services, twilio, "semax|does it raise BDNF?")
    from datetime import UTC, datetime, timedelta

    with services.sessions() as session:
        contact = session.scalar(select(Contact).where(Contact.number == ASKER))
        contact.last_context_at = datetime.now(UTC) - timedelta(minutes=31)
        session.commit()
    [expired] = exchange(client, services, twilio, "MORE")
    assert expired.startswith("Your last question was over 30 minutes ago")


def test_ingest_alone_and_empty_questions_get_their_usage(client, services, twilio, demo):
    [alone] = exchange(client, services, twilio, "ingest")
    assert "ingest semax|q:12|" in alone and "No article" not in alone
    [empty] = exchange(client, services, twilio, "semax||")
    assert "Type your question after the |" in empty
    assert count(services, QuestionNode) == 0  # no public question "|"


def test_a_moderator_asking_for_help_gets_the_moderator_commands(client, services, twilio):
    [moderator] = exchange(client, services, twilio, "HELP", sender="+15550000001")
    for command in ("pending", "show E", "approve E", "reject E"):
        assert command in moderator
    [asker] = exchange(client, services, twilio, "HELP")
    assert "approve" not in asker


def test_sms_stop_silences_everything_until_start(client, services, twilio, demo):
    assert exchange(client, services, twilio, "STOP") == []  # Twilio itself confirms on SMS
    assert exchange(client, services, twilio, "semax|still there?") == []
    with services.sessions() as session:
        statuses = session.scalars(select(OutboundMessage.status)).all()
        assert statuses == ["suppressed"]
        assert session.scalar(select(Contact.opted_out))
    assert exchange(client, services, twilio, "START") == []
    [reply] = exchange(client, services, twilio, "semax|back again?")
    assert "Saved as q:2" in reply


def test_whatsapp_stop_confirms_once_then_silence(client, services, twilio, demo):
    [confirmation] = exchange(client, services, twilio, "stop", whatsapp=True)
    assert "Send START to resume" in confirmation
    assert exchange(client, services, twilio, "semax|anyone?", whatsapp=True) == []
    [welcome] = exchange(client, services, twilio, "START", whatsapp=True)
    assert "Welcome back" in welcome


def test_moderator_command_from_a_stranger_is_refused(client, services, twilio, demo):
    [reply] = exchange(client, services, twilio, "approve E1 human")
    assert reply.startswith("Not authorized")


def test_running_the_same_job_twice_has_one_effect(client, services, twilio, demo):
    post_signed(client, inbound_params(ASKER, "semax|twice?"))
    with services.sessions() as session:
        inbound_id = session.scalar(select(InboundMessage.id))
    assert process_inbound(inbound_id) == "handled"
    assert process_inbound(inbound_id) == "already handled"
    drain(services)
    with services.sessions() as session:
        outbound_id = session.scalar(select(OutboundMessage.id))
    assert send_outbound(outbound_id) == "nothing to send"
    assert count(services, QuestionNode) == 1
    assert count(services, LedgerEntry) == 1 + 6 + 6 + 1  # article, sources, claims, question
    assert len(twilio.messages) == 1


def test_replies_fit_in_three_segments(client, services, twilio, demo):
    from bot.messaging.sms import segments

    long_question = "semax|" + "does it change BDNF levels in the brain of older adults? " * 8
    for reply in exchange(client, services, twilio, long_question.strip()[:505]):
        assert segments(reply) <= 3


ACCENTED_ARTICLE = """Sémax: an accented title
This topic: An article whose title carries an accent, as published pages do.
What scientists say
BDNF and trkB in the rat hippocampus (source s1)
Rat study: raised BDNF protein within hours.
Evidence type: Animal or lab work — shows mechanism or early signal, not proof in people.
"""


def test_accented_title_and_typed_accent_meet_at_one_slug(client, services, twilio):
    """Slugs are derived by one function on both sides (once the import made "s-max")."""
    from ledger.article_format import parse_article
    from ledger.db import transaction
    from ledger.importer import import_article

    with transaction(services.sessions) as session:
        report = import_article(session, parse_article(ACCENTED_ARTICLE))
    assert report.slug == "semax"
    for typed in ("Sémax|does it raise BDNF?", "SEMAX|does it raise BDNF?", "sémax"):
        [reply] = exchange(client, services, twilio, typed)
        assert "No article" not in reply, (typed, reply)
        assert "Sémax" in reply


def test_prompts_come_only_from_questions_worth_suggesting(client, services, twilio, demo):
    """Junk ("are you still there?") and dosing questions once showed up as suggestions."""
    people = ["+15553000001", "+15553000002", "+15553000003"]
    for sender in people:
        exchange(client, services, twilio, "semax|are you still there?", sender=sender)
        exchange(client, services, twilio, "semax|how much should I take daily?", sender=sender)
    for sender in people[:2]:
        exchange(client, services, twilio, "semax|does it help with long covid fatigue?", sender)
    exchange(client, services, twilio, "semax|does it help with tinnitus in adults?", people[0])
    [info] = exchange(client, services, twilio, "semax", sender="+15553000009")
    assert "semax|does it help with long covid fatigue?" in info  # two people asked it
    assert "still there" not in info and "how much" not in info
    assert "tinnitus" not in info  # one person asked it
    with services.sessions() as session:  # every one of them is still saved
        assert session.query(QuestionNode).count() == 9


def test_a_dosing_question_is_never_a_call_for_evidence(client, services, twilio, demo):
    exchange(client, services, twilio, "semax|how much should I take daily?")
    exchange(client, services, twilio, "semax|does it help with tinnitus in adults?")
    page = client.get("/a/semax").get_data(as_text=True)
    assert "tinnitus" in page and "how much should I take" not in page
    assert count(services, QuestionNode) == 2  # both are catalogued


def test_stop_on_one_channel_silences_the_other_until_start(client, services, twilio, demo):
    """Consent is the person's: a STOP by SMS is not a yes on WhatsApp."""
    exchange(client, services, twilio, "HELP", whatsapp=True)  # a WhatsApp conversation exists
    assert exchange(client, services, twilio, "STOP") == []  # Twilio answers STOP on SMS
    assert exchange(client, services, twilio, "HELP", whatsapp=True) == []
    assert exchange(client, services, twilio, "semax|anything?", whatsapp=True) == []
    [welcome] = exchange(client, services, twilio, "START", whatsapp=True)
    assert welcome.startswith("Welcome back")
    assert exchange(client, services, twilio, "HELP")  # SMS resumes too
