"""Cached pages are never stale: a new entry, evidence waiting for review or a new checkpoint
shows on the next request, and the cache stays within its bounds."""

from __future__ import annotations

import re
import shutil

from flask import Flask, Response

from bot.web import cache
from bot.web.cache import ResponseCache
from ledger.chain import append, head
from ledger.checkpoints import sign_head
from ledger.db import transaction
from tests.support.databases import reset
from tests.support.messaging import drain, inbound_params, post_signed
from tests.test_helpers import SECOND, load_demo

MODERATOR = "+15550000001"  # in MODERATOR_NUMBERS (tests/conftest.py)
CONTRIBUTOR = "+15551230002"
PASTE = "Dogs with baldness regrew fur on Semax drops in a veterinary case series"


def text(client, services, body: str, sender: str = CONTRIBUTOR) -> None:
    assert post_signed(client, inbound_params(sender, body)).status_code == 200
    drain(services)


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def shown_head(html: str) -> int:
    return int(re.search(r"Head: entry (\d+)", html)[1])


def ask(services, question: str = "does it help?") -> int:
    with transaction(services.sessions) as session:
        return append(session, "question", "semax", {"node_id": 1, "question": question}).seq


def hits(app) -> int:
    return app.extensions[cache.EXTENSION].hits


def test_an_approved_claim_is_on_the_page_at_once(app, client, services, twilio):
    load_demo(services)
    text(client, services, "semax|does it cure baldness in dogs?")
    assert PASTE not in page(client, "/a/semax")
    assert '"pending":0' in page(client, "/api/articles/semax").replace(" ", "")
    text(client, services, f"ingest semax|q:1|{PASTE}")
    assert "Evidence waiting for review (not yet in the ledger): 1" in page(client, "/a/semax")
    assert '"pending":1' in page(client, "/api/articles/semax").replace(" ", "")
    text(client, services, "approve E1 preclinical", sender=MODERATOR)
    html = page(client, "/a/semax")
    assert PASTE in html and "Evidence waiting for review (not yet in the ledger): 0" in html
    assert PASTE in page(client, "/api/articles/semax/claims")
    assert '"answered"' in page(client, "/api/articles/semax/questions")


def test_a_cached_page_never_shows_a_stale_head(app, client, services):
    load_demo(services)
    first = page(client, "/a/semax")
    assert page(client, "/a/semax") == first and hits(app) == 1  # the second was cached
    for path in ("/", "/ledger", "/api/articles", "/api/articles/semax"):
        page(client, path)
    seq = ask(services, "does semax change sleep?")
    html = page(client, "/a/semax")
    assert shown_head(first) == seq - 1 and shown_head(html) == seq
    assert "does semax change sleep?" in html
    assert "does semax change sleep?" in page(client, "/ledger")
    assert f"Ledger head: entry {seq}," in page(client, "/")
    assert '"open":1' in page(client, "/api/articles/semax").replace(" ", "")


def test_a_new_checkpoint_shows_though_the_head_did_not_move(app, client, services):
    load_demo(services)
    seq = ask(services)
    assert "latest signed checkpoint" not in page(client, "/ledger")
    with transaction(services.sessions) as session:
        sign_head(session, services.log_key)
        assert head(session)[0] == seq
    assert f"latest signed checkpoint, size {seq}" in page(client, "/ledger")


def test_a_replaced_database_is_not_shown_from_the_old_fold(client, services, _sqlite_dbs):
    """A restored backup or a reset test database keeps its URL but not its ledger."""
    load_demo(services)
    assert "Semax" in page(client, "/a/semax")
    url = services.engine.url
    services.engine.dispose()
    if url.get_backend_name() == "sqlite":
        shutil.copyfile(_sqlite_dbs.template, url.database)
    else:
        reset(services.engine)
    load_demo(services, SECOND)  # another article under the same slug, fewer entries
    html = page(client, "/a/semax")
    assert "BPC" in html and "110 stroke patients" not in html


def _response(body: bytes) -> Response:
    return Response(body, mimetype="text/plain")


def test_the_response_cache_keeps_one_head_and_its_bounds():
    with Flask(__name__).app_context():
        store = ResponseCache(max_bytes=10, max_entry_bytes=6, max_entries=2)
        one, two = (1, "a"), (2, "b")
        store.put(one, ("p",), _response(b"12345"))
        assert store.get(one, ("p",)).get_data() == b"12345"
        store.put(one, ("big",), _response(b"1234567"))  # over the entry bound: not kept
        assert store.get(one, ("big",)) is None
        store.put(two, ("p",), _response(b"abc"))  # a newer head: the older ones go
        assert store.get(one, ("p",)) is None and len(store) == 1
        store.put(one, ("q",), _response(b"old"))  # made before the append: not kept
        assert store.get(one, ("q",)) is None
        for key in ("q", "r", "s"):
            store.put(two, (key,), _response(b"xyz"))
        assert len(store) == 2 and store.get(two, ("p",)) is None  # least recent out
        store.put(two, ("t",), Response(b"gone", status=404))
        assert store.get(two, ("t",)) is None
