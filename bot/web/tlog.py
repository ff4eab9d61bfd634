"""The log as C2SP tlog-tiles under ``/tlog/``, and JSON proofs under ``/api/ledger/``.

Tiles and entry bundles are immutable (a complete node never changes; a partial tile of
width W is a prefix of every later one), so they are served with a year-long ``immutable``
cache header and any plain HTTP cache or CDN can mirror the log. Only ``/tlog/checkpoint``
changes, and it is cached for a second at most. Everything is public and CORS-open.
"""

from __future__ import annotations

import base64

from flask import Blueprint, Response, jsonify, render_template, request

from bot.ops.services import current as current_services
from bot.web.api import ApiError, int_arg, open_to_all
from bot.web.limits import SEQ_MAX
from ledger import checkpoints, tree
from ledger.chain import public_entry
from ledger.models import LedgerEntry
from ledger.proofs import NoProof, entry_proof
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.notes import parse_note
from ledger.tlog.tiles import parse_tile_path

bp = Blueprint("tlog", __name__)

IMMUTABLE = "public, max-age=31536000, immutable"
CHECKPOINT_CACHE = "public, max-age=1"


open_to_all(bp)


@bp.errorhandler(tree.CannotServe)
def _missing(error: tree.CannotServe):
    """The database lacks nodes a signed size needs (it was cut or tampered with): say so,
    do not fail with a 500. Monitors treat the log as unable to prove, not as an outage."""
    response = _text(f"the log cannot prove this: {error}\n", "no-store")
    response.status_code = 404
    return response


def _text(body: str | bytes, cache: str, mimetype: str = "text/plain") -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = cache
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _not_found(message: str) -> Response:
    response = _text(message + "\n", "no-store")
    response.status_code = 404
    return response


@bp.get("/tlog/checkpoint")
def checkpoint():
    with current_services().read_sessions() as session:
        conn = session.connection()
        row = checkpoints.latest(conn)
        note = checkpoints.served_note(conn, row) if row is not None else None
    if note is None:
        return _not_found("no checkpoint has been signed yet")
    return _text(note, CHECKPOINT_CACHE)


@bp.get("/tlog/vkey")
def vkey():
    return _text(current_services().log_key.vkey + "\n", "public, max-age=3600")


@bp.get("/tlog/tile/<path:rest>")
def tile(rest: str):
    try:
        level, index, width = parse_tile_path("tile/" + rest)
    except ValueError:
        return _not_found("not a tile path (c2sp.org/tlog-tiles)")
    with current_services().read_sessions() as session:
        conn = session.connection()
        size = tree.tree_size(conn)
        if level < 0:
            data = tree.entry_bundle(conn, index, width, size)
        else:
            data = tree.tile(conn, level, index, width, size)
    if data is None:
        return _not_found("the log has no such tile yet")
    return _text(data, IMMUTABLE, "application/octet-stream")


# ------------------------------------------------------------------ JSON proofs (/api/ledger)


def _b64(digests) -> list[str]:
    return [base64.b64encode(d).decode() for d in digests]


@bp.get(f"/api/ledger/<int(max={SEQ_MAX}):seq>/proof")
def proof(seq: int):
    size = request.args.get("size")
    with current_services().read_sessions() as session:
        try:
            wanted = None if size is None else int_arg("size", None, seq, SEQ_MAX)
            text = entry_proof(session.connection(), seq, wanted).text()
        except NoProof as exc:
            raise ApiError(404, "not_found", str(exc)) from None
    response = _text(text, "public, max-age=60")
    response.headers["Content-Disposition"] = f'inline; filename="ledger-{seq}.tlog-proof"'
    return response


@bp.get(f"/api/ledger/<int(max={SEQ_MAX}):seq>/inclusion")
def inclusion(seq: int):
    with current_services().read_sessions() as session:
        conn = session.connection()
        tree_size = tree.tree_size(conn)
        if seq < 1 or seq > tree_size:
            raise ApiError(404, "not_found", f"no ledger entry {seq}")
        size = int_arg("size", tree_size, seq, tree_size)
        hashes = tree.inclusion(conn, seq - 1, size)
        root = tree.root_at(conn, size)
    return jsonify(
        seq=seq, index=seq - 1, size=size, root=base64.b64encode(root).decode(), hashes=_b64(hashes)
    )


@bp.get("/api/ledger/consistency")
def consistency():
    with current_services().read_sessions() as session:
        conn = session.connection()
        tree_size = tree.tree_size(conn)
        if tree_size < 1:
            raise ApiError(404, "not_found", "the ledger is empty")
        first = int_arg("from", None, 1, tree_size)
        second = int_arg("to", tree_size, first, tree_size)
        hashes = tree.consistency(conn, first, second)
        roots = [tree.root_at(conn, first), tree.root_at(conn, second)]
    return jsonify(
        **{"from": first, "to": second},
        from_root=base64.b64encode(roots[0]).decode(),
        to_root=base64.b64encode(roots[1]).decode(),
        hashes=_b64(hashes),
    )


@bp.get(f"/r/<int(max={SEQ_MAX}):seq>")
def receipt(seq: int):
    """The page a receipt's short link opens: the entry proved against the first checkpoint
    that includes it (the one the receipt names, so its digits can be compared), and how to
    check it, and that the log has only grown since."""
    services = current_services()
    with services.read_sessions() as session:
        conn = session.connection()
        first = checkpoints.first_covering(conn, seq)
        try:
            found = entry_proof(conn, seq, first.size if first is not None else None)
        except NoProof as exc:
            return render_template("error.html", title="No proof", message=str(exc)), 404
        entry = public_entry(session.get(LedgerEntry, seq))
        latest = checkpoints.latest(conn)
    signed = Checkpoint.parse(parse_note(found.checkpoint)[0])
    return render_template(
        "receipt.html",
        entry=entry,
        size=signed.size,
        root_hex=signed.root.hex(),
        origin=signed.origin,
        vkey=services.log_key.vkey,
        proof=found.text(),
        latest=latest,
    )
