"""Answers by text on the real seed article: the right claims, never dosing, MORE pages on."""

from __future__ import annotations

import re

import pytest

from bot.messaging.sms import segments
from ledger.models import QuestionNode
from tests.support.messaging import drain, inbound_params, post_signed
from tests.test_helpers import SEED, count, load_demo

ASKER = "+15551234567"


@pytest.fixture
def seed(services):
    load_demo(services, SEED)


def ask(client, services, twilio, body) -> str:
    before = len(twilio.messages)
    post_signed(client, inbound_params(ASKER, body))
    drain(services)
    [reply] = [m["body"] for m in twilio.messages[before:]]
    return reply


def test_stroke_question_cites_the_110_patient_study(client, services, twilio, seed):
    reply = ask(client, services, twilio, "semax|does it raise BDNF in stroke patients?")
    assert reply.startswith("Saved as q:1 on Semax")
    first = reply.splitlines()[2]
    assert first.startswith("- human, s2:") and "110 stroke patients" in first
    assert "Not medical advice." in reply and "ingest semax|q:1|<paste>" in reply
    assert segments(reply) <= 3


def test_dosing_question_gets_no_numbers_but_is_saved(client, services, twilio, seed):
    reply = ask(client, services, twilio, "semax|how much should I take for focus?")
    assert "never gives dosing" in reply
    assert not re.search(r"\d+\s*(mg|mcg|ug|μg)", reply)
    assert "- " not in reply  # no claims quoted
    assert count(services, QuestionNode) == 1


def test_nothing_relevant_is_said_plainly(client, services, twilio, seed):
    reply = ask(client, services, twilio, "semax|does it cure baldness in dogs?")
    assert "The ledger has nothing on that yet" in reply


def test_more_pages_through_the_ranking_then_stops(client, services, twilio, seed):
    first = ask(client, services, twilio, "semax|what do rats show about BDNF?")
    second = ask(client, services, twilio, "more")
    assert second.startswith("More on q:1:")
    quoted = lambda text: [x for x in text.splitlines() if x.startswith("- ")]  # noqa: E731
    assert quoted(second) and not set(quoted(first)) & set(quoted(second))
    for _ in range(30):
        reply = ask(client, services, twilio, "MORE")
        if reply.startswith("That is all"):
            break
    else:
        pytest.fail("MORE never ran out")


def test_follow_up_asks_about_the_last_article(client, services, twilio, seed):
    ask(client, services, twilio, "semax|does it raise BDNF?")
    reply = ask(client, services, twilio, "|and in healthy people?")
    assert reply.startswith("Saved as q:2 on Semax")
