"""Answers respect what is asked, measured on a labelled set of questions about the seed.

The floors are what this ranking measured when they were set (README, "Answers"); a change
that lowers any of them fails here. bench/stage_answers.py reports the same numbers.
"""

from __future__ import annotations

import pytest

from bot.catalogue.intent import preferred_tier
from tests.support.answer_quality import FLOORS, evaluate, labelled
from tests.support.messaging import drain, inbound_params, post_signed
from tests.test_helpers import SEED, load_demo


@pytest.fixture
def seed(services):
    load_demo(services, SEED)


def test_the_labelled_set_is_big_enough_and_covers_every_tier():
    items = labelled()
    assert len(items) >= 40
    assert {item["tier"] for item in items} == {"human", "preclinical", "anecdotal"}


def test_precision_and_recall_at_3_do_not_fall(services, seed):
    with services.sessions() as session:
        quality = evaluate(session)
    assert quality.first >= FLOORS["first"], quality
    assert quality.precision >= FLOORS["precision"], quality
    assert quality.recall >= FLOORS["recall"], quality


@pytest.mark.parametrize(
    ("question", "tier"),
    [
        ("does it raise BDNF in people?", "human"),
        ("has it been tried in stroke patients?", "human"),
        ("any clinical trials?", "human"),
        ("what do rats show about BDNF?", "preclinical"),
        ("how does it work in the hippocampus?", "preclinical"),
        ("is there evidence in mice?", "preclinical"),
        ("what do people say about focus?", "anecdotal"),
        ("what side effects do people report?", "anecdotal"),
        ("any experiences with the nasal spray?", "anecdotal"),
        ("does it raise BDNF?", None),
    ],
)
def test_the_question_names_the_tier_it_wants(question, tier):
    assert preferred_tier(question) == tier


@pytest.mark.parametrize(
    ("question", "first"),
    [
        ("semax|does it raise BDNF in people?", "- human, s2:"),
        ("semax|what do rats show about BDNF?", "- preclinical, "),
        ("semax|what side effects do people report?", "- anecdotal, "),
    ],
)
def test_the_reply_leads_with_the_tier_asked_about(client, services, twilio, seed, question, first):
    """ "Does it raise BDNF in people?" once led with two rat studies and left out s2."""
    before = len(twilio.messages)
    post_signed(client, inbound_params("+15551234567", question))
    drain(services)
    [reply] = [m["body"] for m in twilio.messages[before:]]
    assert reply.splitlines()[2].startswith(first), reply
