"""The witness (c2sp.org/tlog-witness) over real HTTP on a real database (SQLite, and PostgreSQL
when TEST_DATABASE_URL is set), fed real checkpoints of a real ledger: every status code, the
compare-and-swap under concurrency (threads, and a gunicorn in another process), a fork
refused, and the log's own WitnessClient end to end."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.cli.witness import witness as witness_cli
from bot.ops.redis_embedded import free_port
from bot.transparency.witness import (
    Recorded,
    Witness,
    WitnessStore,
    create_app,
    parse_log,
    trusted_logs,
)
from bot.transparency.witness_client import WitnessClient
from bot.worker.checkpointer import witness_client
from ledger import checkpoints, tree
from ledger.chain import append
from ledger.db import make_engine, normalize_url, session_factory, transaction
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.merkle import EMPTY_ROOT, leaf_hash
from ledger.tlog.notes import (
    CosignatureSigner,
    Signer,
    Verifier,
    generate_cosignature_key,
    generate_signing_key,
    open_note,
    parse_note,
    sign_note,
    vkey_of,
)
from tests.support.processes import served, wait_http

ORIGIN = "bot.example.test"  # what make_settings' PUBLIC_URL makes the log's origin
WITNESS_SKEY = generate_cosignature_key("witness.test/w1")
WITNESS = CosignatureSigner.from_skey(WITNESS_SKEY)
WITNESS_VERIFIER = WITNESS.verifier()


@pytest.fixture
def witness_db(database_url, tmp_path) -> Iterator[str]:
    """The witness's own database, on the backend of this run of the test."""
    if make_url(database_url).get_backend_name() != "postgresql":
        yield f"sqlite:///{tmp_path / 'witness.sqlite3'}"
        return
    base = normalize_url(os.environ["TEST_DATABASE_URL"])
    schema = f"witness_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote('-csearch_path=' + schema)}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@dataclasses.dataclass
class Running:
    url: str
    store: WitnessStore
    vkey: str = WITNESS.vkey
    verifier: Verifier = WITNESS_VERIFIER


@contextmanager
def running_witness(services, db_url: str, logs=None) -> Iterator[Running]:
    engine = make_engine(db_url)
    store = WitnessStore(engine)
    store.create()
    logs = trusted_logs([services.log_key.vkey]) if logs is None else logs
    try:
        with served(create_app(Witness(WITNESS, logs, store))) as url:
            yield Running(url, store)
    finally:
        engine.dispose()  # before the PostgreSQL schema is dropped


@pytest.fixture
def witness(services, witness_db) -> Iterator[Running]:
    with running_witness(services, witness_db) as running:
        yield running


def grow(services, count: int, session_maker=None):
    """Append ``count`` entries and sign the head: a real checkpoint row (size, root, note)."""
    with transaction(session_maker or services.sessions) as session:
        for i in range(count):
            append(session, "claim", "semax", {"claim": f"claim {uuid.uuid4().hex} {i}"})
        return checkpoints.sign_head(session, services.log_key)


def proof(services, old: int, new: int) -> list[bytes]:
    with services.read_sessions() as session:
        return tree.consistency(session.connection(), old, new)


def body(old: int, hashes: list[bytes], note: str) -> bytes:
    lines = [f"old {old}"] + [base64.b64encode(h).decode() for h in hashes]
    return ("\n".join(lines) + "\n\n" + note).encode()


def post(url: str, data: bytes) -> requests.Response:
    return requests.post(f"{url}/add-checkpoint", data=data, timeout=10)


def submit(services, witness: Running, old: int, row) -> requests.Response:
    hashes = proof(services, old, row.size) if 0 < old < row.size else []
    return post(witness.url, body(old, hashes, row.note))


def test_cosigns_a_real_checkpoint_and_the_cosignature_verifies(services, witness):
    row = grow(services, 3)
    response = submit(services, witness, 0, row)
    assert response.status_code == 200, response.text
    served_vkey = requests.get(witness.url + "/", timeout=5).text.strip()
    verifier = Verifier.from_vkey(served_vkey)
    checkpoint_body, _ = parse_note(row.note)
    _, [line] = parse_note(checkpoint_body + "\n" + response.text)
    assert verifier.verify(checkpoint_body, line.key_id + line.raw)  # over the whole checkpoint
    timestamp = int.from_bytes(line.raw[:8], "big")
    assert timestamp > 0 and abs(timestamp - time.time()) < 60
    assert open_note(row.note + response.text, [verifier]).verified == [line]
    assert witness.store.get(ORIGIN) == Recorded(3, row.root)

    bigger = grow(services, 4)
    assert submit(services, witness, 3, bigger).status_code == 200
    assert submit(services, witness, 7, bigger).status_code == 200  # same size, same root
    assert witness.store.get(ORIGIN) == Recorded(7, bigger.root)
    monitor = requests.get(
        f"{witness.url}/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint"
    )
    log_verifier = services.log_key.signer.verifier()
    opened = open_note(monitor.text, [verifier, log_verifier])
    assert len(opened.verified) == 2 and Checkpoint.parse(opened.text).size == 7


def test_unknown_origin_is_404(services, witness):
    other = Signer.from_skey(generate_signing_key("other.example"))
    note = sign_note(Checkpoint("other.example", 1, leaf_hash(b"x")).body(), [other])
    assert post(witness.url, body(0, [], note)).status_code == 404
    origin_hash = hashlib.sha256(ORIGIN.encode()).hexdigest()
    assert requests.get(f"{witness.url}/{origin_hash}/checkpoint").status_code == 404  # not yet
    assert requests.get(f"{witness.url}/{'0' * 64}/checkpoint").status_code == 404


def test_no_trusted_signature_or_a_bad_one_is_403(services, witness):
    row = grow(services, 2)
    checkpoint_body, [signature] = parse_note(row.note)
    stranger = Signer.from_skey(generate_signing_key(signature.name))  # same name, other key
    assert post(witness.url, body(0, [], sign_note(checkpoint_body, [stranger]))).status_code == 403
    forged = bytearray(signature.key_id + signature.raw)
    forged[-1] ^= 1
    bad_line = f"— {signature.name} {base64.b64encode(bytes(forged)).decode()}\n"
    assert post(witness.url, body(0, [], checkpoint_body + "\n" + bad_line)).status_code == 403
    moved = checkpoint_body.replace("\n2\n", "\n3\n", 1) + "\n" + signature.line  # body changed
    assert post(witness.url, body(0, [], moved)).status_code == 403
    assert witness.store.get(ORIGIN) is None


def test_malformed_bodies_and_old_beyond_the_size_are_400(services, witness):
    row = grow(services, 2)
    note = row.note.encode()
    hash_line = base64.b64encode(b"\x00" * 32) + b"\n"
    for data in [
        body(3, [], row.note),  # old > checkpoint size
        b"",
        b"old 0\n" + note,  # no empty line before the note
        b"old 01\n\n" + note,
        b"old -1\n\n" + note,
        b"new 0\n\n" + note,
        b"old 0 \n\n" + note,
        b"old 0\nAAAA\n\n" + note,  # not a 32-byte hash
        b"old 0\n" + hash_line.replace(b"=", b"") + b"\n" + note,  # unpadded
        b"old 1\n" + hash_line * 64 + b"\n" + note,  # 64 proof lines
        b"old 0\n\n",
        b"old 0\n\nhello\n",
        b"old 0\n\n" + note.replace(b"\n\n", b"\n"),
        b"old 0\n\n\xff\n",
    ]:
        response = post(witness.url, data)
        assert response.status_code == 400, (data[:40], response.text)
    at_most = post(witness.url, b"old 1\n" + hash_line * 63 + b"\n" + note)  # 63 lines parse
    assert (at_most.status_code, at_most.text) == (409, "0\n")
    assert post(witness.url, b"old 0\n" + b"A" * 70_000).status_code == 413
    assert requests.get(witness.url + "/add-checkpoint").status_code == 405
    assert witness.store.get(ORIGIN) is None


def test_old_size_other_than_the_cosigned_one_is_409_with_that_size(services, witness):
    row = grow(services, 3)
    never = submit(services, witness, 3, row)
    assert (never.status_code, never.text) == (409, "0\n")  # never cosigned: the size is 0
    assert never.headers["Content-Type"] == "text/x.tlog.size"
    assert submit(services, witness, 0, row).status_code == 200
    row = grow(services, 2)
    for old in (0, 2, 4):
        response = submit(services, witness, old, row)
        assert (response.status_code, response.text) == (409, "3\n")
        assert response.headers["Content-Type"] == "text/x.tlog.size"
    assert witness.store.get(ORIGIN).size == 3


def test_unprovable_checkpoints_are_422_and_change_nothing(services, witness):
    signer = services.log_key.signer
    not_empty = sign_note(Checkpoint(ORIGIN, 0, leaf_hash(b"x")).body(), [signer])
    assert post(witness.url, body(0, [], not_empty)).status_code == 422
    empty = grow(services, 0)  # the real size-0 checkpoint: the empty tree's root
    assert empty.root == EMPTY_ROOT and submit(services, witness, 0, empty).status_code == 200
    row4 = grow(services, 4)
    assert post(witness.url, body(0, [b"\x01" * 32], row4.note)).status_code == 422
    assert submit(services, witness, 0, row4).status_code == 200
    row7 = grow(services, 3)
    good = proof(services, 4, 7)
    for bad in ([good[0][::-1], *good[1:]], good[:-1], [*good, good[0]]):
        assert post(witness.url, body(4, bad, row7.note)).status_code == 422
    same_size = sign_note(Checkpoint(ORIGIN, 4, leaf_hash(b"other")).body(), [signer])
    assert post(witness.url, body(4, [], same_size)).status_code == 422
    assert witness.store.get(ORIGIN) == Recorded(4, row4.root)
    assert post(witness.url, body(4, good, row7.note)).status_code == 200


def test_a_witness_refuses_a_checkpoint_inconsistent_with_one_it_cosigned(
    services, witness, _sqlite_dbs, tmp_path
):
    honest = grow(services, 4)
    assert submit(services, witness, 0, honest).status_code == 200
    # The same log key signs a forked tree: another ledger with other entries.
    fork_engine = make_engine(_sqlite_dbs.fresh_url(tmp_path))
    fork_sessions = session_factory(fork_engine)
    fork4 = grow(services, 4, fork_sessions)
    fork8 = grow(services, 4, fork_sessions)
    with fork_engine.connect() as conn:
        fork_proof = tree.consistency(conn, 4, 8)  # valid inside the fork
    fork_engine.dispose()
    assert fork4.root != honest.root
    log_verifier = services.log_key.signer.verifier()
    assert open_note(fork8.note, [log_verifier]).verified  # really signed by the log
    assert post(witness.url, body(4, fork_proof, fork8.note)).status_code == 422
    assert post(witness.url, body(4, [], fork4.note)).status_code == 422
    assert witness.store.get(ORIGIN) == Recorded(4, honest.root)
    honest8 = grow(services, 4)
    assert submit(services, witness, 4, honest8).status_code == 200  # the honest log goes on


def race(urls: list[str], bodies: list[bytes]) -> list[requests.Response]:
    """POST every body at once (a barrier), spread over ``urls``; the responses in order."""
    barrier = threading.Barrier(len(bodies))
    responses: list[requests.Response | None] = [None] * len(bodies)

    def run(i: int) -> None:
        barrier.wait()
        responses[i] = post(urls[i % len(urls)], bodies[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return responses  # type: ignore[return-value]


def test_compare_and_swap_lets_exactly_one_win_and_never_goes_back(services, witness, witness_db):
    assert submit(services, witness, 0, grow(services, 2)).status_code == 200
    rows = [grow(services, 1) for _ in range(10)]  # real checkpoints at sizes 3 … 12
    with running_witness(services, witness_db) as second:  # another engine on the same store
        current = 2
        while current < rows[-1].size:
            # Every size but the current one (resubmitting that is a legitimate 200), all
            # from the current size at once: smaller ones are 400, one larger one wins.
            sent = [r for r in rows if r.size != current]
            bodies = [
                body(current, proof(services, current, r.size) if r.size > current else [], r.note)
                for r in sent
            ]
            responses = race([witness.url, second.url], bodies)
            won = [r for r, resp in zip(sent, responses, strict=True) if resp.status_code == 200]
            assert len(won) == 1 and won[0].size > current, [x.status_code for x in responses]
            for r, resp in zip(sent, responses, strict=True):
                if r is not won[0]:
                    expected = (400, "") if r.size < current else (409, f"{won[0].size}\n")
                    got = (resp.status_code, resp.text if resp.status_code == 409 else "")
                    assert got == expected, (r.size, current, resp.text)
            assert witness.store.get(ORIGIN) == Recorded(won[0].size, won[0].root)
            current = won[0].size


def test_store_swap_is_atomic_between_threads(witness):
    first = Recorded(1, leaf_hash(b"1"))
    assert witness.store.advance("o", None, first.size, first.root, "n\n")
    assert not witness.store.advance("o", None, 5, leaf_hash(b"5"), "n\n")  # first is taken
    barrier = threading.Barrier(16)
    results: dict[int, bool] = {}

    def run(size: int) -> None:
        barrier.wait()
        results[size] = witness.store.advance("o", first, size, leaf_hash(b"%d" % size), "n\n")

    threads = [threading.Thread(target=run, args=(size,)) for size in range(2, 18)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    [winner] = [size for size, won in results.items() if won]
    assert witness.store.get("o") == Recorded(winner, leaf_hash(b"%d" % winner))


def test_swap_holds_across_processes_with_the_gunicorn_server(services, witness, witness_db):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERBOT_")}
    env.update(INSTANCE_PATH=str(services.settings.instance_path), WITNESS_SIGNING_KEY=WITNESS_SKEY)
    argv = ["serve", "--port", str(port), "--workers", "2", "--db", witness_db]
    script = "from bot.cli.witness import witness; witness()"
    process = subprocess.Popen(
        [sys.executable, "-c", script, *argv, "--log", services.log_key.vkey],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/", process)
        assert requests.get(url + "/", timeout=5).text == WITNESS.vkey + "\n"
        assert submit(services, witness, 0, grow(services, 1)).status_code == 200
        rows = [grow(services, 1) for _ in range(8)]
        bodies = [body(1, proof(services, 1, r.size), r.note) for r in rows]
        responses = race([url, witness.url], bodies)
        assert sorted(r.status_code for r in responses) == [200] + [409] * 7
        [won] = [r for r, resp in zip(rows, responses, strict=True) if resp.status_code == 200]
        assert witness.store.get(ORIGIN) == Recorded(won.size, won.root)
    finally:
        process.terminate()
        process.wait(15)


def test_the_log_gets_cosigned_end_to_end(services, witness, live_server):
    settings = dataclasses.replace(
        services.settings, witness_urls=(witness.url,), witness_keys=(witness.vkey,)
    )
    client = witness_client(settings)  # as the checkpointer's witness thread builds it
    grow(services, 5)
    assert client.submit_latest(services) == 1
    with services.read_sessions() as session:
        [line] = checkpoints.cosignature_lines(session.connection(), 5)
    assert line.startswith("— witness.test/w1 ")
    note = requests.get(live_server + "/tlog/checkpoint", timeout=5).text
    assert line in note
    assert [s.line for s in open_note(note, [witness.verifier]).verified] == [line]
    assert (
        len(open_note(note, [witness.verifier, services.log_key.signer.verifier()]).verified) == 2
    )
    grow(services, 3)
    assert client.submit_latest(services) == 1  # with a proof from 5
    assert client.submit_latest(services) == 0  # nothing new: not even a request
    assert witness.store.get(ORIGIN).size == 8


def test_a_client_that_lost_its_state_recovers_from_409(services, witness):
    verifiers = [witness.verifier]
    grow(services, 5)
    assert WitnessClient((witness.url,), verifiers).submit_latest(services) == 1
    grow(services, 4)
    restarted = WitnessClient((witness.url,), verifiers)  # thinks the witness has nothing
    assert restarted.submit_latest(services) == 1  # old 0 → 409 "5" → old 5 with a proof
    assert restarted.cosigned == {witness.url: 9} and witness.store.get(ORIGIN).size == 9
    again = WitnessClient((witness.url,), verifiers)  # the witness already has our latest
    again.submit_latest(services)  # old 0 → 409 "9" → old 9, the same size: cosigned again
    assert again.cosigned == {witness.url: 9}
    with services.read_sessions() as session:  # and kept once
        assert len(checkpoints.cosignature_lines(session.connection(), 9)) == 1


def hostile_witness(environ, start_response):
    """/huge answers 200 with 1 MiB, /garbled a 409 without a size: a witness is untrusted."""
    start_response(
        "409 Conflict" if environ["PATH_INFO"].startswith("/garbled") else "200 OK",
        [("Content-Type", "text/x.tlog.size")],
    )
    if environ["PATH_INFO"].startswith("/huge"):
        return [b"\xe2\x80\x94 w " + b"A" * 1024] * 1024
    return [b"nonsense\n"]


def test_a_witness_down_refusing_or_hostile_costs_only_a_log_line(
    services, witness, witness_db, caplog
):
    grow(services, 2)
    down = f"http://127.0.0.1:{free_port()}"
    with (
        running_witness(services, witness_db, logs={}) as stranger,  # does not know our log
        served(hostile_witness) as hostile,
    ):
        urls = (down, stranger.url, f"{hostile}/huge", f"{hostile}/garbled", witness.url)
        nobody = CosignatureSigner.from_skey(generate_cosignature_key("nobody.test")).verifier()
        client = WitnessClient(urls, [nobody])  # so the real witness's key is not trusted
        assert client.submit_latest(services) == 0
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    for expected in (down, "404", "too large", "409 without a tree size", "by a known key"):
        assert any(expected in m for m in messages), (expected, messages)
    assert witness.store.get(ORIGIN).size == 2  # it did cosign; we just did not trust it


def test_cli_vkey_and_log_options(tmp_path):
    env = {
        "INSTANCE_PATH": str(tmp_path),
        "PUBLIC_URL": "https://witness.example",
        "WITNESS_SIGNING_KEY": None,
        "LEDGERBOT_WITNESS_SIGNING_KEY": None,
        "LEDGERBOT_INSTANCE_PATH": None,
        "LEDGERBOT_PUBLIC_URL": None,
        "LEDGER_ORIGIN": None,
        "LEDGERBOT_LEDGER_ORIGIN": None,
    }
    runner = CliRunner()
    first = runner.invoke(witness_cli, ["vkey"], env=env)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("witness.example/witness+")
    assert runner.invoke(witness_cli, ["vkey"], env=env).output == first.output  # kept
    env["WITNESS_SIGNING_KEY"] = WITNESS_SKEY
    assert runner.invoke(witness_cli, ["vkey"], env=env).output == WITNESS.vkey + "\n"
    bad = runner.invoke(witness_cli, ["serve", "--log", "nonsense"], env=env)
    assert bad.exit_code == 2 and "--log" in bad.output

    log_vkey = vkey_of(generate_signing_key("log.example"))
    assert parse_log(log_vkey) == ("log.example", Verifier.from_vkey(log_vkey))
    assert parse_log("other.org/x=" + log_vkey)[0] == "other.org/x"
    for spec in ("nonsense", "a=b", WITNESS.vkey):  # a cosigner key cannot sign checkpoints
        with pytest.raises(ValueError):
            parse_log(spec)
