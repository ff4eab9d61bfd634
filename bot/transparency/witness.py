"""A C2SP tlog-witness: cosigns a log's checkpoint only if it extends the last one it cosigned.

``POST /add-checkpoint`` follows c2sp.org/tlog-witness exactly (status codes in
:meth:`Witness.add_checkpoint`). What makes a witness worth asking is that it never cosigns two
views of one log, so the check of the old size and the update of the stored (size, root) are
one compare-and-swap in the witness's own database (:meth:`WitnessStore.advance`), atomic across
threads, processes and machines sharing it, and committed before the cosignature is returned.
Without that, two concurrent requests could both pass their checks and the smaller one could
roll the stored size back (the spec's race), after which a fork could be cosigned.

The store is one table, created by :meth:`WitnessStore.create` from its own MetaData: a witness
is usually run by someone other than the log, so it needs none of the ledger's migrations.
``GET /<sha256(origin) hex>/checkpoint`` is the spec's optional monitor retrieval; ``GET /``
answering the witness's vkey is our own convenience, not part of the spec. No I/O at import.
"""

from __future__ import annotations

import binascii
import hashlib
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, Response, request
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.exceptions import RequestEntityTooLarge

from bot.config import Settings, instance_secret
from ledger.db import reader
from ledger.tlog.checkpoint import Checkpoint, CheckpointError
from ledger.tlog.merkle import EMPTY_ROOT, ProofError, verify_consistency
from ledger.tlog.notes import (
    ALG_ED25519,
    CosignatureSigner,
    Note,
    NoteError,
    Verifier,
    generate_cosignature_key,
    open_note,
    parse_note,
)

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # a checkpoint and 63 hashes take ~3 KiB; anything near this is abuse
MAX_PROOF_LINES = 63
SIZE_TYPE = "text/x.tlog.size"
KEY_FILE = "witness_signing_key"
_OLD_LINE = re.compile(r"old (0|[1-9][0-9]{0,18})")

METADATA = sa.MetaData()
LOGS = sa.Table(
    "witness_logs",
    METADATA,
    sa.Column("origin", sa.Text, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("note", sa.Text, nullable=False),  # as served to monitors: log and witness lines
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


class Refused(Exception):
    """An add-checkpoint request the witness must not cosign: the status and body to answer."""

    def __init__(self, status: int, body: str, content_type: str = "text/plain; charset=utf-8"):
        super().__init__(body)
        self.status, self.body, self.content_type = status, body, content_type


def _conflict(size: int) -> Refused:
    return Refused(409, f"{size}\n", SIZE_TYPE)


@dataclass(frozen=True)
class Recorded:
    """The latest checkpoint cosigned for one origin."""

    size: int
    root: bytes


class WitnessStore:
    """The (size, root) last cosigned per origin, on SQLite or PostgreSQL."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._reader = reader(engine)  # SQLite: plain BEGIN, never waits for the write lock

    def create(self) -> None:
        """Create the table if missing (run once before serving, not from every worker)."""
        METADATA.create_all(self.engine)

    def get(self, origin: str) -> Recorded | None:
        with self._reader.begin() as conn:
            row = conn.execute(
                sa.select(LOGS.c.size, LOGS.c.root).where(LOGS.c.origin == origin)
            ).one_or_none()
        return None if row is None else Recorded(row.size, bytes(row.root))

    def note(self, origin: str) -> str | None:
        with self._reader.begin() as conn:
            return conn.execute(sa.select(LOGS.c.note).where(LOGS.c.origin == origin)).scalar()

    def advance(
        self, origin: str, expected: Recorded | None, size: int, root: bytes, note: str
    ) -> bool:
        """Store (size, root) only if the origin's record is still ``expected``; whether it was.

        A first record is an INSERT that does nothing on conflict; later ones an UPDATE guarded
        by the expected size and root. One statement each, so the database decides the race:
        of concurrent requests from one old size exactly one matches (rowcount 1), the others
        see 0 and answer 409. Checks only ever let the size grow or stay, so it never goes back.
        """
        values = {"size": size, "root": root, "note": note, "updated_at": datetime.now(UTC)}
        if expected is None:
            dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
            statement = (
                dialect.insert(LOGS)
                .values(origin=origin, **values)
                .on_conflict_do_nothing(index_elements=["origin"])
            )
        else:
            statement = (
                sa.update(LOGS)
                .where(
                    LOGS.c.origin == origin,
                    LOGS.c.size == expected.size,
                    LOGS.c.root == expected.root,
                )
                .values(**values)
            )
        # preserve_rowcount: SQLAlchemy 2.1 reports -1 for an INSERT's rowcount on psycopg
        # unless asked to keep it.
        statement = statement.execution_options(preserve_rowcount=True)
        with self.engine.begin() as conn:  # committed (persisted) before we answer
            return conn.execute(statement).rowcount == 1


def _proof_hash(line: str) -> bytes:
    """One canonical base64 SHA-256 hash, so a proof has exactly one spelling."""
    try:
        digest = binascii.a2b_base64(line, strict_mode=True)
    except ValueError:
        raise Refused(400, "a consistency proof line is not base64\n") from None
    if len(digest) != 32 or binascii.b2a_base64(digest, newline=False).decode() != line:
        raise Refused(400, "a consistency proof line is not one canonical 32-byte hash\n")
    return digest


def parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    """Split "old N", up to 63 proof lines and an empty line from the checkpoint note; 400s."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8\n") from None
    lines = text.split("\n", MAX_PROOF_LINES + 2)
    match = _OLD_LINE.fullmatch(lines[0])
    if match is None or int(match[1]) >= 2**63:
        raise Refused(400, "the first line must be 'old <size>', in decimal\n")
    try:
        blank = lines.index("", 1, MAX_PROOF_LINES + 2)
    except ValueError:
        raise Refused(400, "no empty line within 63 proof lines after the old size\n") from None
    proof = [_proof_hash(line) for line in lines[1:blank]]
    return int(match[1]), proof, "\n".join(lines[blank + 1 :])


@dataclass(frozen=True)
class Witness:
    """The witness's key, the logs it follows (origin → trusted keys) and its store."""

    signer: CosignatureSigner
    logs: Mapping[str, tuple[Verifier, ...]]
    store: WitnessStore

    def add_checkpoint(self, body: bytes) -> str:
        """The cosignature line for the submitted checkpoint, or :class:`Refused`.

        400 malformed body or old > size; 404 unknown origin; 403 no trusted signature, or a
        trusted key's signature fails; 409 (``text/x.tlog.size``) old is not the size last
        cosigned; 422 size 0 without the empty root, old 0 with a proof, a proof that fails,
        or the same size with another root.
        """
        old, proof, note = parse_request(body)
        checkpoint, opened = self._open(note)
        if old > checkpoint.size:
            raise Refused(400, f"old size {old} exceeds the checkpoint's {checkpoint.size}\n")
        if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
            raise Refused(422, "a checkpoint of size 0 must have the empty tree's root\n")
        if old == 0 and proof:
            raise Refused(422, "the empty tree needs no consistency proof: send none\n")
        recorded = self.store.get(checkpoint.origin)
        self._check_consistency(old, proof, checkpoint, recorded)
        line = self.signer.cosign(opened.text, max(1, int(time.time())))
        kept = opened.text + "\n" + "".join(s.line for s in opened.verified) + line
        if not self.store.advance(
            checkpoint.origin, recorded, checkpoint.size, checkpoint.root, kept
        ):
            now = self.store.get(checkpoint.origin)  # a concurrent request won the swap
            raise _conflict(0 if now is None else now.size)
        log.info("cosigned %s at size %d", checkpoint.origin, checkpoint.size)
        return line

    def _open(self, note: str) -> tuple[Checkpoint, Note]:
        try:
            text, _signatures = parse_note(note)
            checkpoint = Checkpoint.parse(text)
        except (NoteError, CheckpointError) as exc:
            raise Refused(400, f"not a checkpoint note: {exc}\n") from None
        verifiers = self.logs.get(checkpoint.origin)
        if verifiers is None:
            raise Refused(404, "unknown log origin\n")
        try:
            return checkpoint, open_note(note, verifiers)
        except NoteError as exc:  # unverified, or a trusted key's signature is bad
            raise Refused(403, f"{exc}\n") from None

    def _check_consistency(
        self, old: int, proof: list[bytes], checkpoint: Checkpoint, recorded: Recorded | None
    ) -> None:
        size = 0 if recorded is None else recorded.size
        if old != size:
            raise _conflict(size)
        if recorded is None or old == 0:
            return  # the empty tree is consistent with every tree
        try:
            verify_consistency(old, checkpoint.size, proof, recorded.root, checkpoint.root)
        except ProofError as exc:
            # Signed by the log yet inconsistent with what we cosigned: evidence, so log it.
            got = f"{checkpoint.origin} {checkpoint.size} {checkpoint.root.hex()}"
            seen = f"{recorded.size} {recorded.root.hex()}"
            log.warning("refused %s: not consistent with cosigned %s: %s", got, seen, exc)
            raise Refused(422, f"not consistent with the checkpoint cosigned: {exc}\n") from None


def _text(
    body: str, status: int = 200, content_type: str = "text/plain; charset=utf-8"
) -> Response:
    response = Response(body, status=status, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response


def create_app(witness: Witness) -> Flask:
    """The witness's HTTP interface (builds nothing that talks to the network or the disk)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    by_hash = {hashlib.sha256(o.encode()).hexdigest(): o for o in witness.logs}

    @app.post("/add-checkpoint")
    def add_checkpoint() -> Response:
        try:
            return _text(witness.add_checkpoint(request.get_data(cache=False)))
        except Refused as refused:
            return _text(refused.body, refused.status, refused.content_type)

    @app.get("/<origin_hash>/checkpoint")
    def checkpoint(origin_hash: str) -> Response:
        origin = by_hash.get(origin_hash)
        note = None if origin is None else witness.store.note(origin)
        return _text("never cosigned\n", 404) if note is None else _text(note)

    @app.get("/")
    def vkey() -> Response:
        return _text(witness.signer.vkey + "\n")

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_error: RequestEntityTooLarge) -> Response:
        return _text(f"the body is over {MAX_BODY} bytes\n", 413)

    return app


# ------------------------------------------------------------------ configuration


def parse_log(spec: str) -> tuple[str, Verifier]:
    """``VKEY`` (the origin is the key's name) or ``ORIGIN=VKEY``: (origin, verifier)."""
    candidates = [(None, spec)] + [
        (spec[:i], spec[i + 1 :]) for i, ch in enumerate(spec) if ch == "=" and i
    ]
    for origin, vkey in candidates:  # the key id pins its name, so at most one split parses
        try:
            verifier = Verifier.from_vkey(vkey)
        except NoteError:
            continue
        if verifier.alg != ALG_ED25519:
            raise ValueError(f"{vkey}: a log signs with an Ed25519 note key (type 0x01)")
        return origin or verifier.name, verifier
    raise ValueError(f"not a verifier key, nor ORIGIN=<verifier key>: {spec!r}")


def trusted_logs(specs: Iterable[str]) -> dict[str, tuple[Verifier, ...]]:
    """origin → its keys (several for one origin: a log rotating its key)."""
    logs: dict[str, dict[str, Verifier]] = {}
    for spec in specs:
        origin, verifier = parse_log(spec)
        logs.setdefault(origin, {})[verifier.vkey] = verifier
    return {origin: tuple(keys.values()) for origin, keys in logs.items()}


def default_name(settings: Settings) -> str:
    """``<PUBLIC_URL host>/witness``, made a valid key name (no '+', no whitespace)."""
    name = f"{settings.log_origin}/witness"
    return "".join("-" if ch == "+" or ch.isspace() or not ch.isprintable() else ch for ch in name)


def witness_signer(settings: Settings, name: str | None = None) -> CosignatureSigner:
    """WITNESS_SIGNING_KEY, else a key generated once into the instance folder as ``name``."""
    skey = settings.witness_signing_key or instance_secret(
        settings.instance_path,
        KEY_FILE,
        make=lambda: generate_cosignature_key(name or default_name(settings)),
    )
    return CosignatureSigner.from_skey(skey)


def default_db_url(settings: Settings) -> str:
    return "sqlite:///" + str(Path(settings.instance_path).resolve() / "witness.sqlite3")
