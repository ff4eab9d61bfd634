"""The log as strangers see it over HTTP: tiles, bundles, checkpoint, proofs, receipts."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.transparency.receipt import ReceiptError, verify_receipt
from bot.worker.checkpointer import checkpoint_once
from ledger.chain import append_many
from ledger.db import transaction
from ledger.tlog.checkpoint import Checkpoint, TlogProof
from ledger.tlog.notes import Verifier, generate_signing_key, open_note, vkey_of
from ledger.tlog.tiles import TileReader
from tests.ledger.test_tree_storage import payloads
from tests.support import rfc9162

SIZE = 600  # two full level-0 tiles and a partial one


@pytest.fixture
def log(services):
    with transaction(services.sessions) as session:
        append_many(session, [("claim", "semax", p) for p in payloads(SIZE)])
    checkpoint_once(services)
    return services


def fetcher(client):
    def fetch(path: str) -> bytes:
        response = client.get("/tlog/" + path)
        assert response.status_code == 200, (path, response.status_code)
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        return response.data

    return fetch


def api_entries(client) -> list[dict]:
    out, after = [], 0
    while True:
        page = client.get(f"/api/ledger?after={after}&limit=1000").get_json()
        if not page["entries"]:
            return out
        out += page["entries"]
        after = page["next_after"]


def leaf(entry: dict) -> bytes:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_tiles_and_bundles_are_the_signed_tree(log, client):
    response = client.get("/tlog/checkpoint")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "public, max-age=1"
    note = open_note(response.get_data(as_text=True), [Verifier.from_vkey(log.log_key.vkey)])
    signed = Checkpoint.parse(note.text)
    assert signed.size == SIZE and signed.origin == log.log_key.origin
    assert client.get("/tlog/vkey").get_data(as_text=True) == log.log_key.vkey + "\n"

    reader = TileReader(fetcher(client), SIZE)
    assert reader.root() == signed.root
    bundled = reader.entries(0, SIZE)
    assert bundled == [leaf(e) for e in api_entries(client)]
    assert rfc9162.Tree(bundled).root(SIZE) == signed.root

    for missing in (
        "/tlog/tile/0/003",  # beyond the tree
        "/tlog/tile/0/002",  # the right edge is partial: no full tile yet
        "/tlog/tile/0/002.p/89",  # wider than what exists (600 - 512 = 88)
        "/tlog/tile/0/02",  # not canonical
        "/tlog/tile/0/002.p/0",
        "/tlog/tile/entries/x000/002",
        "/tlog/tile/9/000",
        "/tlog/tile/../../etc/passwd",
    ):
        answer = client.get(missing)
        assert answer.status_code == 404, missing
        assert answer.headers["Cache-Control"] == "no-store"
    assert client.get("/tlog/tile/0/002.p/88").status_code == 200
    assert client.get("/tlog/tile/entries/002.p/88").status_code == 200
    assert client.get("/tlog/tile/1/000.p/2").data == reader.tile(1, 0)[0] + reader.tile(1, 0)[1]


def test_json_proofs_verify_with_an_independent_verifier(log, client):
    reference = rfc9162.Tree([leaf(e) for e in api_entries(client)])
    for seq, size in ((1, 1), (1, SIZE), (256, 300), (257, 257), (SIZE, SIZE), (77, 513)):
        body = client.get(f"/api/ledger/{seq}/inclusion?size={size}").get_json()
        hashes = [base64.b64decode(h) for h in body["hashes"]]
        root = base64.b64decode(body["root"])
        assert (body["index"], body["size"], root) == (seq - 1, size, reference.root(size))
        assert hashes == reference.path(seq - 1, size)
        assert rfc9162.verify_inclusion(seq - 1, size, reference.leaf_hash(seq - 1), hashes, root)
    for first, second in ((1, 2), (3, 7), (255, 256), (256, SIZE), (SIZE, SIZE)):
        body = client.get(f"/api/ledger/consistency?from={first}&to={second}").get_json()
        hashes = [base64.b64decode(h) for h in body["hashes"]]
        assert hashes == reference.proof(first, second)
        if first == second:  # RFC 9162's verifier starts by refusing an empty path
            assert hashes == [] and body["from_root"] == body["to_root"]
            continue
        assert rfc9162.verify_consistency(
            first, second, reference.root(first), reference.root(second), hashes
        )
    default = client.get("/api/ledger/10/inclusion").get_json()
    assert default["size"] == SIZE
    for bad, status in (
        ("/api/ledger/10/inclusion?size=9", 400),
        (f"/api/ledger/10/inclusion?size={SIZE + 1}", 400),
        ("/api/ledger/10/inclusion?size=x", 400),
        (f"/api/ledger/{SIZE + 1}/inclusion", 404),
        ("/api/ledger/consistency", 400),
        ("/api/ledger/consistency?from=0&to=5", 400),
        ("/api/ledger/consistency?from=6&to=5", 400),
        (f"/api/ledger/consistency?from=1&to={SIZE + 1}", 400),
    ):
        answer = client.get(bad)
        assert answer.status_code == status, bad
        assert set(answer.get_json()) == {"error", "message"}


def test_a_proof_file_verifies_offline_and_tampering_is_caught(log, client, tmp_path):
    vkey = log.log_key.vkey
    text = client.get("/api/ledger/300/proof").get_data(as_text=True)
    found = verify_receipt(text, vkey)
    assert found.entry["seq"] == 300 and found.checkpoint.size == SIZE
    proof = TlogProof.parse(text)
    other = vkey_of(generate_signing_key(log.log_key.signer.name))
    tampered_entry = proof.extra.replace(b'"seq":300', b'"seq":301')
    forged = [
        (text, other, "not signed by"),
        (
            TlogProof(proof.index, proof.hashes, proof.checkpoint, proof.extra + b" ").text(),
            vkey,
            "does not reach",
        ),
        (
            TlogProof(proof.index, proof.hashes, proof.checkpoint, tampered_entry).text(),
            vkey,
            "not entry 300",
        ),
        (
            TlogProof(proof.index + 1, proof.hashes, proof.checkpoint, proof.extra).text(),
            vkey,
            "not entry",
        ),
        (
            TlogProof(proof.index, proof.hashes[::-1], proof.checkpoint, proof.extra).text(),
            vkey,
            "does not reach",
        ),
        (text.replace(f"\n{SIZE}\n", f"\n{SIZE + 1}\n"), vkey, "not signed by"),
    ]
    for forgery, key, why in forged:
        with pytest.raises(ReceiptError, match=why):
            verify_receipt(forgery, key)
    with pytest.raises(ReceiptError, match="not"):
        verify_receipt(text, vkey, hash_prefix="0000000000000000")

    path = tmp_path / "ledger-300.tlog-proof"
    path.write_text(text)
    ok = CliRunner().invoke(cli, ["verify-receipt", str(path), "--vkey", vkey])
    assert ok.exit_code == 0, ok.output
    assert "ok: entry #300" in ok.output and f"tree size {SIZE}" in ok.output
    bad = CliRunner().invoke(cli, ["verify-receipt", str(path), "--vkey", other])
    assert bad.exit_code == 1 and "NOT VERIFIED" in bad.output


def test_the_receipt_page_and_pre_checkpoint_answers(services, client):
    assert client.get("/tlog/checkpoint").status_code == 404  # nothing signed yet
    with transaction(services.sessions) as session:
        append_many(session, [("claim", "semax", p) for p in payloads(5)])
    assert client.get("/api/ledger/3/proof").status_code == 404
    assert client.get("/r/3").status_code == 404
    checkpoint_once(services)
    page = client.get("/r/3")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "c2sp.org/tlog-proof@v1" in html and services.log_key.vkey in html
    assert "verify-receipt" in html and "Not medical advice" in html
    assert client.get("/r/6").status_code == 404
    assert client.get("/api/ledger/3/proof?size=4").status_code == 404  # no checkpoint of 4
    assert client.get("/api/ledger/3/proof?size=2").status_code == 400  # smaller than seq


def test_receipt_checks_refuse_what_a_receipt_did_not_say(log, client):
    vkey = log.log_key.vkey
    text = client.get(f"/api/ledger/5/proof?size={SIZE}").get_data(as_text=True)
    found = verify_receipt(text, vkey, size=SIZE)
    digits = found.checkpoint.root.hex()[:16]
    assert verify_receipt(text, vkey, size=SIZE, root_prefix=digits).entry["seq"] == 5
    for kwargs, why in (
        ({"size": SIZE - 1}, "not 599"),
        ({"root_prefix": "0" * 16}, "signed root"),
        ({"hash_prefix": ""}, "16 to 64"),
        ({"hash_prefix": "abc"}, "16 to 64"),
        ({"origin": "someone.else"}, "not 'someone.else'"),
        ({"witness_keys": (vkey, vkey), "quorum": 2}, "1 of the required 2"),  # one vote
    ):
        with pytest.raises(ReceiptError, match=why):
            verify_receipt(text, vkey, **kwargs)


def test_a_process_with_another_key_or_origin_does_not_sign(log, tmp_path):
    """A misconfigured machine (its own generated key, or no PUBLIC_URL) must not sign for
    the log: monitors would see the log's identity change."""
    from ledger.checkpoints import KeyMismatch, LogKey, sign_head
    from ledger.tlog.notes import Signer

    with transaction(log.sessions) as session:
        append_many(session, [("claim", "semax", {"text": "one more"})])
    strangers = (
        LogKey(Signer.from_skey(generate_signing_key(log.log_key.signer.name)), log.log_key.origin),
        LogKey(log.log_key.signer, "localhost"),
    )
    for key in strangers:
        with pytest.raises(KeyMismatch), transaction(log.sessions) as session:
            sign_head(session, key)
    with transaction(log.sessions) as session:
        assert sign_head(session, log.log_key).size == SIZE + 1
