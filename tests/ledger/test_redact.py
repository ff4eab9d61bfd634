"""ledger.redact.publishable: the cases that leaked or were mangled, the mapping back onto the
original text, and the keyed digest and the preview as ``ledger.decisions`` uses them."""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from ledger.db import transaction
from ledger.decisions import (
    Decider,
    decide,
    paste_digest,
    paste_digest_key,
    publication,
)
from ledger.models import Evidence, LedgerEntry
from ledger.redact import PLACEHOLDER, publishable, redact_numbers
from tests.ledger.test_stats import add_evidence, add_question, load_seed

P = PLACEHOLDER
MODERATOR = Decider("p-0f1e2d3c4b5a6978", "tester", "web")


@pytest.mark.parametrize(
    ("text", "published"),
    [
        # An approved entry lost "110" with the old regex.
        ("PMID: 29798983. 110 stroke patients", "PMID: 29798983. 110 stroke patients"),
        ("ISBN 9780306406157", "ISBN 9780306406157"),
        ("ISBN 0-306-40615-2 and ISSN 0028-0836", "ISBN 0-306-40615-2 and ISSN 0028-0836"),
        ("doi:10.1016/j.neuron.2019.01.002", "doi:10.1016/j.neuron.2019.01.002"),
        (
            "https://doi.org/10.1371/journal.pone.0123456",
            "https://doi.org/10.1371/journal.pone.0123456",
        ),
        ("NCT01234567, n=40, 2018–2020, pp. 123–130", "NCT01234567, n=40, 2018–2020, pp. 123–130"),
        ("Neuron. 2019;101(4):1234-1250; 50 µg/kg", "Neuron. 2019;101(4):1234-1250; 50 µg/kg"),
        (
            "https://x.com/lab/status/1234567890123456789",
            "https://x.com/lab/status/1234567890123456789",
        ),
        # What got through.
        ("call 555–777–6001", f"call {P}"),
        ("555/777/6001 or 555,777,6001 or 555_777_6001", f"{P} or {P} or {P}"),
        ("call5557776001", f"call{P}"),
        ("wa.me/15557776001", f"wa.me/{P}"),
        ("see https://example.org/?phone=+15557776001", f"see https://example.org/?phone={P}"),
        ("⁵⁵⁵⁻⁷⁷⁷⁻⁶⁰⁰¹ ⑤⑤⑤⑦⑦⑦⑥⓪⓪① ５５５－７７７－６００１", f"{P} {P} {P}"),
        ("5\u03035\u03035\u0303 777 6001", P),
        ("tel:+44 (0)20 7946 0958", f"tel:{P}"),
        ("110 +1 555 777 6001 patients", f"110 {P} patients"),
        ("030 12345678 110 stroke patients", f"{P} 110 stroke patients"),
    ],
)
def test_known_cases(text, published):
    assert redact_numbers(text) == published


def test_everything_kept_is_byte_identical_and_removals_are_reported():
    text = "Café ① – José: ⑤⑤⑤ ⑦⑦⑦ ⑥⓪⓪① (naïve), PMID 12345678 ✓"
    result = publishable(text)
    assert result.text == f"Café ① – José: {P} (naïve), PMID 12345678 ✓"
    assert result.removed == ("⑤⑤⑤ ⑦⑦⑦ ⑥⓪⓪①",)
    assert [piece for piece, removed in result.pieces if removed] == [P]
    assert "".join(piece for piece, _ in result.pieces) == result.text


def test_text_without_numbers_is_returned_as_it_is():
    for text in ("", "no digits here", "q:12 and 2019"):
        result = publishable(text)
        assert result.text == text and result.count == 0


@pytest.mark.parametrize("joiner", [" ", "-", ". "])
def test_a_hostile_paste_is_redacted_quickly(joiner):
    """1,600 characters of digit groups: analysis per chain is capped and the rest falls to
    the leftover rule, so the cost stays bounded and no seven digits survive together."""
    paste = joiner.join(f"{n % 1000:03d} {n % 997:03d}" for n in range(200))[:1600]
    started = time.perf_counter()
    result = publishable(paste)
    assert time.perf_counter() - started < 2.0
    assert not re.search(r"\d(?:[ -]?\d){6}", result.text)


@pytest.fixture
def pending(services):
    """A seeded article, a question and a pending paste carrying two numbers and a PMID."""
    load_seed(services)
    node = add_question(services, "semax", "any human data?")
    add_evidence(services, "semax", node, "human", approved=False)
    with transaction(services.sessions) as session:
        evidence = session.scalar(select(Evidence))
        evidence.paste = "PMID: 29798983. 110 stroke patients; call 555–777–6001"
        evidence.identifiers = {
            "urls": ["https://example.org/?phone=+15557776001"],
            "pmids": ["29798983"],
        }
        return evidence.id


def test_the_entry_is_the_preview(services, pending):
    with transaction(services.sessions) as session:
        shown = publication(session.get(Evidence, pending))
        decide(session, pending, approve=True, moderator=MODERATOR, now=datetime.now(UTC))
    with services.sessions() as session:
        entry = session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "evidence"))
    payload = json.loads(entry.payload)
    assert payload["paste"] == shown.paste.text == f"PMID: 29798983. 110 stroke patients; call {P}"
    assert payload["identifiers"] == shown.identifiers
    assert shown.identifiers["urls"] == [f"https://example.org/?phone={P}"]
    assert shown.removed == 2


def test_a_rejection_records_an_hmac_under_the_derived_key(services, pending):
    key = paste_digest_key("a deployment secret of at least thirty-two characters")
    with transaction(services.sessions) as session:
        paste = session.get(Evidence, pending).paste
        decide(
            session,
            pending,
            approve=False,
            moderator=MODERATOR,
            now=datetime.now(UTC),
            reason="duplicate of 0412 345 678",
            paste_key=key,
        )
    with services.sessions() as session:
        entry = session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "moderation"))
    payload = json.loads(entry.payload)
    assert payload["paste_hmac_sha256"] == paste_digest(paste, key)
    assert payload["paste_hmac_sha256"] != hashlib.sha256(paste.encode()).hexdigest()
    assert payload["reason"] == f"duplicate of {P}"
    assert "555" not in entry.payload


def test_a_rejection_without_the_key_changes_nothing(services, pending):
    with transaction(services.sessions) as session, pytest.raises(ValueError, match="key"):
        decide(
            session, pending, approve=False, moderator=MODERATOR, now=datetime.now(UTC), reason="x"
        )
    with services.sessions() as session:
        assert session.get(Evidence, pending).status == "pending"
