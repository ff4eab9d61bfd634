"""Every route, every parameter, hostile values: never a 500.

Found from outside before: a login `next=` holding CR/LF, `/moderate/e/<id ≥ 2^63>`, and
`/moderate/decide` with `evidence_id` ≥ 2^63 or "²" all answered 500.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.moderation.accounts import add_web_moderator
from ledger.db import transaction
from tests.test_helpers import load_demo

HOSTILE = [
    str(2**31),
    str(2**63),
    str(2**64 + 1),
    "9" * 5000,
    "-1",
    "0",
    "1e9",
    "²",
    "٣",
    "１",
    "\x00",
    "\r\nSet-Cookie: x=1",
    "/moderate/\r\n",
    "%0d%0a",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "\u202e",
    " ",
    "",
]
QUERY_NAMES = ("page", "article", "next", "after", "limit", "tier", "slug", "id")
# A URL cannot carry a lone surrogate (the client could not even send one).
values = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
)
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def moderator_client(app, client, services):
    load_demo(services)
    with transaction(services.sessions) as session:
        add_web_moderator(session, "alice", "correct horse battery staple")
    page = client.get("/moderate/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"username": "alice", "password": "correct horse battery staple", "csrf_token": token}
    assert client.post("/moderate/login", data=form).status_code == 302
    return client


def get_routes(app) -> list[str]:
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint != "static"
    )


def fill(rule: str, value: str) -> str:
    return re.sub(r"<[^>]+>", quote(value, safe="") or "x", rule)


def csrf(client, path="/moderate/") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    return match.group(1) if match else ""


@FUZZ
@given(data=st.data())
def test_no_get_route_answers_500(app, moderator_client, data):
    rule = data.draw(st.sampled_from(get_routes(app)))
    path = fill(rule, data.draw(values))
    query = data.draw(st.dictionaries(st.sampled_from(QUERY_NAMES), values, max_size=3))
    response = moderator_client.get(path, query_string=query)
    assert response.status_code < 500, (path, query, response.status_code)


@FUZZ
@given(
    ids=st.lists(values, min_size=1, max_size=3),
    action=st.one_of(st.sampled_from(["approve", "reject"]), values),
    tier=st.one_of(st.none(), values),
    reason=values,
    back=values,
)
def test_decide_never_answers_500(moderator_client, ids, action, tier, reason, back):
    form = {"evidence_id": ids, "action": action, "reason": reason, "back": back}
    if tier is not None:
        form["tier"] = tier
    form["csrf_token"] = csrf(moderator_client)
    response = moderator_client.post("/moderate/decide", data=form)
    assert response.status_code < 500, (form, response.status_code)


@FUZZ
@given(username=values, password=values, next_=values)
def test_login_never_answers_500(client, services, username, password, next_):
    token = csrf(client, "/moderate/login")
    form = {"username": username, "password": password, "csrf_token": token}
    response = client.post("/moderate/login", data=form, query_string={"next": next_})
    assert response.status_code < 500, (form, next_, response.status_code)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/moderate/e/{2**63}", 404),
        (f"/moderate/e/{2**31}", 404),
        ("/api/ledger/99999999999", 404),
    ],
)
def test_ids_past_the_column_are_not_found(moderator_client, path, expected):
    assert moderator_client.get(path).status_code == expected


@pytest.mark.parametrize("raw", [str(2**63), "²", "٣", "1e3", "-4"])
def test_a_bad_evidence_id_is_a_400(moderator_client, raw):
    form = {"evidence_id": raw, "action": "approve", "csrf_token": csrf(moderator_client)}
    assert moderator_client.post("/moderate/decide", data=form).status_code == 400


def test_a_login_next_with_cr_lf_goes_to_the_queue(moderator_client):
    token = csrf(moderator_client, "/moderate/login")
    form = {"username": "alice", "password": "correct horse battery staple", "csrf_token": token}
    query = {"next": "/moderate/\r\nSet-Cookie: x=1"}
    response = moderator_client.post("/moderate/login", data=form, query_string=query)
    assert response.status_code == 302 and response.location == "/moderate/"


def test_control_characters_in_a_real_decision_are_not_a_500(moderator_client, services):
    from tests.support.messaging import drain, inbound_params, post_signed

    for body in ("semax|does it work?", "ingest semax|q:1|PMID 29798983 stroke"):
        assert (
            post_signed(moderator_client, inbound_params("+15557654321", body)).status_code == 200
        )
        drain(services)
    form = {
        "evidence_id": "1",
        "action": "reject",
        "reason": "not\x00 a source",
        "csrf_token": csrf(moderator_client),
    }
    response = moderator_client.post("/moderate/decide", data=form)
    assert response.status_code == 302


def test_a_login_name_with_nul_is_just_a_wrong_login(client, services):
    token = csrf(client, "/moderate/login")
    form = {"username": "al\x00ice", "password": "x", "csrf_token": token}
    assert client.post("/moderate/login", data=form).status_code == 401
