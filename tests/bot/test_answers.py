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
        if reply.startswith("No more claims in the ledger match q:1"):
            break
    else:
        pytest.fail("MORE never ran out")


def test_follow_up_asks_about_the_last_article(client, services, twilio, seed):
    ask(client, services, twilio, "semax|does it raise BDNF?")
    reply = ask(client, services, twilio, "|and in healthy people?")
    assert reply.startswith("Saved as q:2 on Semax")


class TestShortReplies:
    """An operator who sets MAX_SEGMENTS=1 gets one-segment replies from every answer path."""

    @pytest.fixture
    def settings_overrides(self):
        return {"max_segments": 1}

    def test_more_respects_the_configured_reply_length(self, client, services, twilio, seed):
        first = ask(client, services, twilio, "semax|what do rats show about BDNF?")
        second = ask(client, services, twilio, "more")
        assert segments(first) == 1
        assert second.startswith("More on q:1:")
        assert segments(second) == 1, second


TWIN = """Twin: article {n}
This topic: Two articles shaped alike, in two databases.
What scientists say
BDNF study number {n} (source s1)
{claim}
Evidence type: Animal or lab work — shows mechanism or early signal, not proof in people.
"""


def test_answers_are_not_shared_between_two_databases(services, tmp_path, _sqlite_dbs):
    """Article ids repeat across databases: one process serving two must not mix answers.

    The two articles have the same shape (one claim at the same ledger seq), so only the
    database tells their indexes apart.
    """
    from bot.catalogue.answers import relevant_claims
    from bot.ops.services import Services
    from ledger.article_format import parse_article
    from ledger.db import transaction
    from ledger.importer import import_article
    from ledger.models import Article
    from tests.support.settings import make_settings

    other = Services(
        make_settings(
            tmp_path / "other",
            _sqlite_dbs.fresh_url(tmp_path),
            services.redis_url,
            services.settings.twilio_api_url,
        )
    )
    claims = {1: "Rats given it had more BDNF.", 2: "Mice given it had less BDNF."}
    try:
        for n, target in ((1, services), (2, other)):
            with transaction(target.sessions) as session:
                import_article(session, parse_article(TWIN.format(n=n, claim=claims[n])))
        answers = {}
        for n, target in ((1, services), (2, other), (1, services)):
            with target.sessions() as session:
                article = session.get(Article, 1)
                answers.setdefault(n, []).append(
                    [c.text for c in relevant_claims(session, article, "what about BDNF?")]
                )
    finally:
        other.close()
    assert answers[1] == [[claims[1]], [claims[1]]]
    assert answers[2] == [[claims[2]]]
