"""The JSON API: every endpoint, its errors and caching, and a fuzz run against its OpenAPI."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bot.worker.checkpointer import checkpoint_once
from ledger.chain import append
from ledger.db import transaction
from tests.ledger.test_stats import add_evidence, add_question, load_seed
from tests.support import rfc9162

GENESIS = "0" * 64
SEED_ENTRIES = 102


def entry_digest(entry: dict) -> str:
    """The README's public hash formula, written out again."""
    body = {k: entry[k] for k in ("seq", "kind", "slug", "payload", "prev_hash", "created_at")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture
def seeded(services):
    load_seed(services)
    open_node = add_question(services, "semax", "does it raise BDNF in healthy people?")
    answered = add_question(services, "semax", "any human trials?")
    add_evidence(services, "semax", answered, "human", approved=True)
    add_evidence(services, "semax", open_node, "anecdotal", approved=False)
    return {"open": open_node, "answered": answered}


def assert_error(response, status: int) -> None:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.get_json()
    assert set(body) == {"error", "message"} and body["message"]


def test_articles_list_and_detail(seeded, client):
    listing = client.get("/api/articles")
    assert listing.status_code == 200
    assert listing.headers["Access-Control-Allow-Origin"] == "*"
    (article,) = listing.get_json()["articles"]
    assert article["slug"] == "semax" and article["url"] == "/a/semax"

    detail = client.get("/api/articles/semax").get_json()
    assert {k: v for k, v in detail.items() if k not in ("article_seq", "sections")} == article
    stats = detail["stats"]
    assert stats["claims"] == {"human": 6, "preclinical": 4, "anecdotal": 37}
    assert stats["questions"] == {"open": 1, "answered": 1}
    assert stats["pending"] == 1
    assert stats["confidence"]["value"] == 0.95
    assert "not clinical certainty" in stats["confidence"]["formula"]
    assert_error(client.get("/api/articles/nope"), 404)
    assert_error(client.get("/api/articles/" + "x" * 100), 404)
    assert_error(client.get("/api/articles/a%00b"), 404)


def test_declared_counts_beside_the_catalogued_ones(seeded, client):
    """The seed declares 102 sources, 32 scientific, 8 human claims...; the ledger lists 55."""
    detail = client.get("/api/articles/semax").get_json()
    declared = detail["declared"]
    by_key = {(c["section"], c["key"]): c for c in declared["counts"]}
    total = by_key["inventory", "total_sources"]
    assert (total["declared"], total["catalogued"], total["differs"]) == (102, 55, True)
    assert total["catalogued"] == detail["stats"]["total_sources"]
    assert total["label"] == "Total sources in chain"
    human = by_key["inventory", "human_claims"]
    assert (human["declared"], human["catalogued"]) == (8, detail["stats"]["claims"]["human"])
    assert by_key["inventory", "scientific_sources"]["declared"] == 32
    assert by_key["inventory", "other_anecdote"]["differs"] is False
    assert by_key["how_many", "anecdote_sources"]["catalogued"] == 37
    assert "it declares 102 sources and this ledger catalogues 55" in declared["note"]
    assert declared["confidence"]["value"] == "0.95" and declared["confidence"]["differs"] is False
    assert declared["footer"]["ledger_size"] == 103


def test_the_detail_has_every_section_in_page_order(seeded, client):
    detail = client.get("/api/articles/semax").get_json()
    keys = [s["key"] for s in detail["sections"]]
    assert keys[:3] == ["framing", "topic", "what"] and keys[-1] == "footer"
    assert len(keys) == 16
    scientists = next(s for s in detail["sections"] if s["key"] == "scientists")
    assert scientists["sources"][:3] == ["s1", "s2", "s3"] and len(scientists["sources"]) == 18
    article_entry = client.get(f"/api/ledger/{detail['article_seq']}").get_json()
    assert article_entry["kind"] == "article"
    assert article_entry["payload"]["sections"][0] == detail["sections"][0]


def test_claims_by_tier(seeded, client):
    everything = client.get("/api/articles/semax/claims").get_json()
    assert everything["tier"] is None and len(everything["claims"]) == 47
    human = client.get("/api/articles/semax/claims?tier=human").get_json()["claims"]
    assert len(human) == 6 and {c["tier"] for c in human} == {"human"}
    contributed = [c for c in human if c["kind"] == "evidence"]
    assert [c["node_id"] for c in contributed] == [seeded["answered"]]
    assert {c["sid"] for c in human if c["kind"] == "claim"} == {"s2", "s5", "s9", "s12", "s41"}
    seqs = [c["seq"] for c in everything["claims"]]
    assert seqs == sorted(seqs)
    for bad in ("Human", "", "clinical", "human,anecdotal"):
        assert_error(client.get(f"/api/articles/semax/claims?tier={bad}"), 400)
    assert_error(client.get("/api/articles/nope/claims?tier=human"), 404)


def test_questions(seeded, client):
    body = client.get("/api/articles/semax/questions").get_json()
    by_node = {q["node_id"]: q for q in body["questions"]}
    assert by_node[seeded["open"]]["status"] == "open"
    assert by_node[seeded["open"]]["answered_by"] == []
    assert by_node[seeded["answered"]]["status"] == "answered"
    (evidence_seq,) = by_node[seeded["answered"]]["answered_by"]
    evidence = client.get(f"/api/ledger/{evidence_seq}").get_json()
    assert evidence["kind"] == "evidence" and evidence["payload"]["node_id"] == seeded["answered"]
    assert by_node[seeded["open"]]["asker"].startswith("p-")
    assert_error(client.get("/api/articles/nope/questions"), 404)


def test_ledger_pages_are_the_public_chain(seeded, client, services):
    total = SEED_ENTRIES + 4  # two questions, one approval (evidence + moderation entries)
    first = client.get("/api/ledger").get_json()
    assert (first["after"], first["limit"]) == (0, 100)
    assert [e["seq"] for e in first["entries"]] == list(range(1, 101))
    assert first["next_after"] == 100
    rest = client.get("/api/ledger?after=100&limit=1000").get_json()
    entries = first["entries"] + rest["entries"]
    assert len(entries) == total and rest["next_after"] == total
    prev = GENESIS
    for entry in entries:  # the README's verification, on what the API returned
        assert entry["prev_hash"] == prev and entry["hash"] == entry_digest(entry)
        prev = entry["hash"]
    assert client.get(f"/api/ledger?after={total}").get_json()["entries"] == []
    assert client.get("/api/ledger?after=2&limit=1").get_json()["entries"][0]["seq"] == 3

    head = client.get("/api/ledger/head").get_json()
    assert (head["seq"], head["hash"], head["tree_size"]) == (total, prev, total)
    # The tree's root, recomputed by the independent RFC 9162 transcription from the very
    # bytes the hashes cover: the chain and the tree cannot disagree.
    leaves = [
        json.dumps(
            {k: v for k, v in e.items() if k != "hash"},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        for e in entries
    ]
    assert base64.b64decode(head["root"]) == rfc9162.Tree(leaves).root(total)
    # Nothing signed yet; once the checkpointer has run, the head names its checkpoint.
    assert head["checkpoint"] is None
    checkpoint_once(services)
    head = client.get("/api/ledger/head").get_json()
    assert head["checkpoint"] == {"size": total, "root": head["root"]}
    single = client.get("/api/ledger/5")
    assert single.get_json() == entries[4]
    assert single.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "query",
    [
        "after=-1",
        "after=x",
        "after=1.5",
        "after=",
        "after=99999999999",
        "limit=0",
        "limit=1001",
        "limit=ten",
        "limit=",
        "limit=+5",
        "after=%C2%B2",
    ],
)
def test_ledger_query_validation(client, query):
    assert_error(client.get(f"/api/ledger?{query}"), 400)


def test_not_found_and_methods(client):
    assert_error(client.get("/api/ledger/1"), 404)
    assert_error(client.get("/api/ledger/0"), 404)
    assert_error(client.get("/api/ledger/99999999999999"), 404)
    assert_error(client.get("/api/no/such/thing"), 404)
    assert_error(client.post("/api/articles"), 405)
    assert client.post("/api/articles").headers["Allow"]
    empty_root = base64.b64encode(hashlib.sha256(b"").digest()).decode()  # RFC 9162's MTH({})
    assert client.get("/api/ledger/head").get_json() == {
        "seq": 0,
        "hash": GENESIS,
        "tree_size": 0,
        "root": empty_root,
        "checkpoint": None,
    }
    assert client.get("/api/articles").get_json() == {"articles": []}


def test_cors_preflight(client):
    response = client.options("/api/ledger", headers={"Origin": "https://example.org"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "If-None-Match" in response.headers["Access-Control-Allow-Headers"]
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]


def test_etags_and_304(services, seeded, client):
    entry = client.get("/api/ledger/7")
    assert entry.headers["ETag"] == f'"{entry.get_json()["hash"]}"'
    again = client.get("/api/ledger/7", headers={"If-None-Match": entry.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["Access-Control-Allow-Origin"] == "*"
    other = client.get("/api/ledger/7", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200

    tail = client.get("/api/ledger?after=100")
    tag = tail.headers["ETag"]
    assert client.get("/api/ledger?after=100", headers={"If-None-Match": tag}).status_code == 304
    full = client.get("/api/ledger?after=0&limit=10")
    assert full.headers["ETag"] != tag
    with transaction(services.sessions) as session:  # the tail page grows: a new tag
        append(session, "claim", "semax", {"sid": None, "tier": "anecdotal", "text": "new"})
    grown = client.get("/api/ledger?after=100", headers={"If-None-Match": tag})
    assert grown.status_code == 200 and grown.headers["ETag"] != tag
    assert len(grown.get_json()["entries"]) == len(tail.get_json()["entries"]) + 1
    unchanged = client.get(
        "/api/ledger?after=0&limit=10", headers={"If-None-Match": full.headers["ETag"]}
    )
    assert unchanged.status_code == 304


def test_openapi_document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    schemas = document["components"]["schemas"]
    assert {"Article", "Stats", "Claim", "Question", "LedgerEntry", "Error"} <= set(schemas)
    assert {"ArticleDetail", "Declared", "DeclaredCount", "Section"} <= set(schemas)
    assert "declared" in schemas["Article"]["required"]
    assert set(document["paths"]) == {
        "/api/articles",
        "/api/articles/{slug}",
        "/api/articles/{slug}/claims",
        "/api/articles/{slug}/questions",
        "/api/ledger",
        "/api/ledger/head",
        "/api/ledger/{seq}",
        "/api/ledger/{seq}/proof",
        "/api/ledger/{seq}/inclusion",
        "/api/ledger/consistency",
        "/tlog/checkpoint",
        "/tlog/vkey",
    }


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Random slugs and seqs almost always miss; these pin them to data that exists.
EXISTING = {"slug": "semax", "seq": 5}


def fuzz(operation, mode: GenerationMode, checks, **strategy) -> None:
    @given(case=operation.as_strategy(generation_mode=mode, **strategy))
    @settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(case):
        case.call_and_validate(checks=checks)

    run()


@pytest.mark.timeout(120)
def test_fuzz_against_openapi(seeded, app):
    """Schemathesis generates requests from the document; every answer must match it.

    Negative cases (values the document forbids) must also be refused with a 4xx.
    """
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 12
    negative = 0
    for operation in operations:
        fuzz(operation, GenerationMode.POSITIVE, CHECKS)
        existing = {p.name: EXISTING[p.name] for p in operation.path_parameters}
        if existing:
            fuzz(operation, GenerationMode.POSITIVE, CHECKS, path_parameters=existing)
        try:
            fuzz(operation, GenerationMode.NEGATIVE, [*CHECKS, negative_data_rejection])
            negative += 1
        except Unsatisfiable:
            pass  # nothing to get wrong: no parameters, or only free-form strings
    assert negative >= 3  # claims (tier), ledger (after, limit), ledger entry (seq)
