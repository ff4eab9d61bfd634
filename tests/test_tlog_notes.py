"""Signed notes, keys, cosignatures, checkpoints and tlog proofs against published known answers.

The vectors (../shared/tlog/notes/) come from Go's golang.org/x/mod, transparency-dev/formats,
C2SP, a real sum.golang.org tree head and Sunlight's witness test data: passing them means our
notes interoperate with the Go ecosystem, not merely with themselves.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.tlog.checkpoint import Checkpoint, CheckpointError, TlogProof
from ledger.tlog.notes import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    MAX_NOTE_BYTES,
    CosignatureSigner,
    InvalidSignatureError,
    NoteError,
    Signer,
    UnverifiedNoteError,
    Verifier,
    generate_cosignature_key,
    generate_signing_key,
    key_id,
    open_note,
    parse_note,
    sign_note,
    valid_name,
    vkey_of,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "tlog"
VECTORS_FILE = SHARED / "notes" / "vectors.json"
SKYLIGHT = SHARED / "notes" / "sunlight-skylight-testdata" / "cmd" / "skylight" / "testdata"
HAVE_VECTORS = VECTORS_FILE.is_file()
V: dict = json.loads(VECTORS_FILE.read_text(encoding="utf-8")) if HAVE_VECTORS else {}
needs_vectors = pytest.mark.skipif(not HAVE_VECTORS, reason=f"reference vectors absent: {SHARED}")

NOTES = {n["id"]: n for n in V.get("notes", [])}
COSIGNED = [i for i in NOTES if i.startswith("sunlight-")]
# Where each Sunlight vector lives on disk, and the gen.go phrase its seed is SHA-256 of.
SKYLIGHT_FILES = {
    "sunlight-witness-cosignature-v1-ed25519": (
        "witness/000de184301123b9278c086a7d9f68c9577e83872224c197058fd90784ea9706/checkpoint",
        "witness/witness.v0.json",
        "skylight test witness key",
    ),
    "sunlight-witness2-cosignature-v1-ed25519": (
        "witness2/88ad7a28caeb0b2aa890fdf0304c2fcaf59fca2ee140134ff8c1300bac493482/checkpoint",
        "witness2/witness.v0.json",
        "skylight test witness2 key",
    ),
    "sunlight-mirror-cosignature-v1-ed25519": (
        "witness/mirror/000de184301123b9278c086a7d9f68c9577e83872224c197058fd90784ea9706/checkpoint",
        "witness/mirror/mirror.v0.json",
        "skylight test mirror key",
    ),
}
PETER = "gomod-note-peterneumann"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _peter() -> dict:
    return NOTES[PETER]


# --- Go's PeterNeumann key and the key pairs -----------------------------------------------


@needs_vectors
def test_peter_skey_signs_known_text_to_exact_go_signature_line():
    peter = _peter()
    text, block = peter["note"].split("\n\n")
    assert Signer.from_skey(peter["skey"]).sign(text + "\n") == block


@needs_vectors
def test_peter_vkey_of_skey_is_published_vkey_and_seed_matches():
    peter = _peter()
    assert vkey_of(peter["skey"]) == peter["vkey"]
    from_seed = Signer.from_seed("PeterNeumann", bytes.fromhex(peter["seed_hex"]))
    assert from_seed.vkey == peter["vkey"]


@needs_vectors
def test_sign_note_reproduces_go_note_byte_for_byte():
    peter = _peter()
    text = peter["note"].split("\n\n")[0] + "\n"
    assert sign_note(text, [Signer.from_skey(peter["skey"])]) == peter["note"]


@needs_vectors
@pytest.mark.parametrize("pair", V.get("keypairs", []), ids=lambda p: p["vkey"].split("+")[0])
def test_keypair_skey_derives_vkey_and_key_id(pair):
    signer = Signer.from_skey(pair["skey"])
    verifier = Verifier.from_vkey(pair["vkey"])
    published_id = bytes.fromhex(pair["vkey"].split("+")[1])
    assert vkey_of(pair["skey"]) == pair["vkey"] == signer.vkey == verifier.vkey
    assert signer.key_id == verifier.key_id == published_id
    assert key_id(verifier.name, ALG_ED25519, verifier.public_key) == published_id
    line = signer.sign("hello\n")
    assert open_note("hello\n\n" + line, [verifier]).verified[0].line == line


# --- every note vector ---------------------------------------------------------------------


@needs_vectors
@pytest.mark.parametrize("vid", list(NOTES))
def test_note_vector_opens_exactly_when_valid(vid):
    vector = NOTES[vid]
    verifier = Verifier.from_vkey(vector["vkey"])
    if vector["valid"]:
        note = open_note(vector["note"], [verifier])
        assert [s.name for s in note.verified] == [verifier.name]
        assert note.text + "\n" + "".join(s.line for s in note.signatures) == vector["note"]
    else:
        with pytest.raises(NoteError):
            open_note(vector["note"], [verifier])


@needs_vectors
def test_tampered_text_is_an_invalid_signature_not_merely_unverified():
    vector = NOTES["gomod-note-peterneumann-tampered-text"]
    with pytest.raises(InvalidSignatureError):
        open_note(vector["note"], [Verifier.from_vkey(vector["vkey"])])


@needs_vectors
def test_two_signature_note_verifies_with_peter_and_ignores_enoch():
    vector = NOTES["gomod-note-two-sigs-verify-with-peter"]
    note = open_note(vector["note"], [Verifier.from_vkey(vector["vkey"])])
    assert [s.name for s in note.signatures] == ["PeterNeumann", "EnochRoot"]
    assert [s.name for s in note.verified] == ["PeterNeumann"]
    both = [
        Verifier.from_vkey(vector["vkey"]),
        Verifier.from_vkey(NOTES["gomod-note-enochroot"]["vkey"]),
    ]
    assert [s.name for s in open_note(vector["note"], both).verified] == [
        "PeterNeumann",
        "EnochRoot",
    ]


@needs_vectors
def test_real_sum_golang_org_checkpoint_verifies_and_parses():
    vector = NOTES["sum.golang.org-real-tree-head-35225469"]
    note = open_note(vector["note"].encode(), [Verifier.from_vkey(vector["vkey"])])
    checkpoint = Checkpoint.parse(note.text)
    assert checkpoint.origin == "go.sum database tree"
    assert checkpoint.size == 35225469
    assert len(checkpoint.root) == 32 and checkpoint.extensions == ()
    assert checkpoint.body() == note.text


# --- Sunlight witness cosignatures (alg 0x04) ----------------------------------------------


@needs_vectors
@pytest.mark.parametrize("vid", COSIGNED)
def test_sunlight_vector_matches_source_files(vid):
    checkpoint_path, metadata_path, phrase = SKYLIGHT_FILES[vid]
    vector = NOTES[vid]
    assert (SKYLIGHT / checkpoint_path).read_text(encoding="utf-8") == vector["note"]
    metadata = json.loads((SKYLIGHT / metadata_path).read_text(encoding="utf-8"))
    assert metadata["verifier_keys"] == [vector["vkey"]]
    name = vector["vkey"].split("+")[0]
    assert f'newCosigner("{name}", "{phrase}")' in (SKYLIGHT / "gen.go").read_text()
    assert _sha(phrase.encode()).hex() == vector["seed_hex"]


@needs_vectors
@pytest.mark.parametrize("vid", COSIGNED)
def test_sunlight_cosignature_verifies_as_alg_04(vid):
    vector = NOTES[vid]
    verifier = Verifier.from_vkey(vector["vkey"])
    assert verifier.alg == ALG_COSIGNATURE_V1
    note = open_note(vector["note"], [verifier])
    assert [s.name for s in note.verified] == [verifier.name]
    assert struct.unpack(">Q", note.verified[0].raw[:8])[0] == vector["timestamp"]
    Checkpoint.parse(note.text)


@needs_vectors
@pytest.mark.parametrize("vid", COSIGNED)
def test_cosignature_signer_reproduces_sunlight_line(vid):
    vector = NOTES[vid]
    name = vector["vkey"].split("+")[0]
    signer = CosignatureSigner.from_seed(name, bytes.fromhex(vector["seed_hex"]))
    assert signer.vkey == vector["vkey"]
    text, signatures = parse_note(vector["note"])
    expected = next(s.line for s in signatures if s.name == name)
    assert signer.cosign(text, vector["timestamp"]) == expected


@needs_vectors
def test_cosignature_message_is_as_specified_independently_of_the_module():
    vector = NOTES["sunlight-witness-cosignature-v1-ed25519"]
    text, signatures = parse_note(vector["note"])
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["seed_hex"]))
    ts = vector["timestamp"]
    message = f"cosignature/v1\ntime {ts}\n{text}".encode()
    payload = signatures[1].key_id + struct.pack(">Q", ts) + key.sign(message)
    assert signatures[1].line == f"— witness.example.org {_b64(payload)}\n"


@needs_vectors
def test_wrong_type_byte_negative_is_unverified():
    vector = NOTES["cosig-wrong-type-byte-negative"]
    as_ed25519 = Verifier.from_vkey(vector["vkey"])
    witness = Verifier.from_vkey(NOTES["sunlight-witness-cosignature-v1-ed25519"]["vkey"])
    assert as_ed25519.public_key == witness.public_key and as_ed25519.key_id != witness.key_id
    with pytest.raises(UnverifiedNoteError):
        open_note(vector["note"], [as_ed25519])


@needs_vectors
def test_rfc6962_tree_head_signature_is_skipped_as_unknown_key():
    vector = NOTES["sunlight-witness-cosignature-v1-ed25519"]
    note = open_note(vector["note"], [Verifier.from_vkey(vector["vkey"])])
    tree_head = note.signatures[0]
    assert tree_head.name == "rome2026h1.example.org" and tree_head not in note.verified
    only_tree_head = (SKYLIGHT / "tree" / "checkpoint").read_text(encoding="utf-8")
    assert parse_note(only_tree_head)[1] == [tree_head]
    same_name = Signer.from_skey(generate_signing_key("rome2026h1.example.org")).verifier()
    with pytest.raises(UnverifiedNoteError):
        open_note(only_tree_head, [same_name, Verifier.from_vkey(vector["vkey"])])


@needs_vectors
def test_cosignature_timestamp_above_2_63_is_rejected_even_if_signed():
    vector = NOTES["sunlight-witness-cosignature-v1-ed25519"]
    verifier = Verifier.from_vkey(vector["vkey"])
    text = parse_note(vector["note"])[0]
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["seed_hex"]))
    ts = 2**63
    sig = key.sign(f"cosignature/v1\ntime {ts}\n{text}".encode())
    line = f"— {verifier.name} {_b64(verifier.key_id + struct.pack('>Q', ts) + sig)}\n"
    with pytest.raises(InvalidSignatureError):
        open_note(text + "\n" + line, [verifier])
    signer = CosignatureSigner.from_seed(verifier.name, bytes.fromhex(vector["seed_hex"]))
    for bad in (-1, 2**63, True, "1767139200"):
        with pytest.raises(NoteError):
            signer.cosign(text, bad)  # type: ignore[arg-type]


# --- key-ID, checkpoint and tlog-proof text vectors ----------------------------------------


@needs_vectors
@pytest.mark.parametrize("vector", V.get("key_id_vectors", []), ids=lambda v: v["vkey"][:24])
def test_key_id_vector(vector):
    if not vector["key_id_ok"]:
        pytest.skip(f"documented inconsistent vector: {vector['warning']}")
    verifier = Verifier.from_vkey(vector["vkey"])
    assert verifier.alg == vector["sig_type"]
    published = bytes.fromhex(vector["vkey"].split("+")[1])
    assert key_id(verifier.name, verifier.alg, verifier.public_key) == published
    assert verifier.vkey == vector["vkey"]


@needs_vectors
def test_checkpoint_text_vectors_round_trip():
    bananas, sumdb = V["checkpoint_text"]
    parsed = Checkpoint.parse(bananas["text"], hash_size=None)
    assert parsed == Checkpoint(bananas["origin"], bananas["size"], b"bananas")
    assert parsed.body() == bananas["text"]
    with pytest.raises(CheckpointError):
        Checkpoint.parse(bananas["text"])  # 7-byte root: only a format vector
    tree = Checkpoint.parse(sumdb["text"])
    assert tree == Checkpoint("go.sum database tree", sumdb["size"], _sha(b"\x00hello world"))
    assert tree.body() == sumdb["text"]


@needs_vectors
def test_tlog_proof_text_vectors_round_trip():
    plain, with_extra, empty = V["tlog_proof_text"]
    expected = TlogProof(5, (_sha(b"hash1"), _sha(b"hash2")), "test checkpoint\n")
    assert TlogProof.parse(plain["text"]) == expected and expected.text() == plain["text"]
    extra = TlogProof(10, (_sha(b"hash1"),), "checkpoint data\n", b"extra information")
    assert TlogProof.parse(with_extra["text"]) == extra and extra.text() == with_extra["text"]
    assert TlogProof.parse(empty["text"]) == TlogProof(0, (), "checkpoint\n")
    for vector in V["tlog_proof_text"]:
        assert TlogProof.parse(vector["text"].encode()).text() == vector["text"]


# --- generated keys ------------------------------------------------------------------------


def test_generated_keys_sign_and_verify_and_reload():
    skey = generate_signing_key("example.com/log")
    cskey = generate_cosignature_key("example.com/witness")
    log, witness = Signer.from_skey(skey), CosignatureSigner.from_skey(cskey)
    assert vkey_of(skey) == log.vkey and vkey_of(cskey) == witness.vkey
    assert skey.split("+", 4)[4] not in repr(log)  # the seed never shows in logs
    body = Checkpoint("example.com/log", 2, bytes(32)).body()
    note = sign_note(body, [log], [witness.cosign(body, 1_700_000_000)])
    opened = open_note(note, [log.verifier(), witness.verifier()])
    assert [s.name for s in opened.verified] == ["example.com/log", "example.com/witness"]
    with pytest.raises(NoteError):
        Signer.from_skey(cskey)  # a cosigner key is not a note key, and vice versa
    with pytest.raises(NoteError):
        CosignatureSigner.from_skey(skey)


def test_same_name_other_key_is_unknown_so_note_is_unverified():
    one = Signer.from_skey(generate_signing_key("example.com/log"))
    other = Signer.from_skey(generate_signing_key("example.com/log"))
    note = sign_note("hello\n", [one])
    with pytest.raises(UnverifiedNoteError):
        open_note(note, [other.verifier()])
    with pytest.raises(UnverifiedNoteError):
        open_note(note, [])


def test_known_key_with_corrupted_signature_rejects_whole_note():
    signer = Signer.from_seed("example.com/log", bytes(32))
    other = Signer.from_seed("example.com/other", bytes(range(32)))
    text, (good,) = parse_note(sign_note("hello\n", [signer]))
    bad = f"— {good.name} {_b64(good.key_id + bytes(64))}\n"
    note = text + "\n" + other.sign(text) + bad
    with pytest.raises(InvalidSignatureError):
        open_note(note, [signer.verifier(), other.verifier()])


def test_text_may_contain_blank_lines_split_is_at_the_last_one():
    signer = Signer.from_seed("example.com/log", bytes(32))
    text = "first\n\n— not a signature line\n\nlast\n"
    assert open_note(sign_note(text, [signer]), [signer.verifier()]).text == text


def test_repeated_signature_by_one_key_is_skipped_unchecked_as_in_go():
    signer = Signer.from_seed("example.com/log", bytes(32))
    good = sign_note("hello\n", [signer])
    repeat = f"— example.com/log {_b64(signer.key_id + bytes(64))}\n"
    note = open_note(good + repeat, [signer.verifier()])
    assert len(note.signatures) == 2 and len(note.verified) == 1


def test_two_verifiers_with_one_name_and_id_but_different_keys_are_refused():
    signer = Signer.from_seed("example.com/log", bytes(32))
    real = signer.verifier()
    note = sign_note("hello\n", [signer])
    assert open_note(note, [real, real]).verified  # an exact duplicate is harmless
    impostor = Verifier(real.name, real.key_id, real.alg, bytes(32))
    with pytest.raises(NoteError):
        open_note(note, [real, impostor])


def test_verify_takes_key_id_and_payload_and_checks_the_id():
    signer = Signer.from_seed("example.com/log", bytes(32))
    verifier = signer.verifier()
    (sig,) = parse_note(sign_note("hello\n", [signer]))[1]
    assert verifier.verify("hello\n", sig.key_id + sig.raw)
    assert not verifier.verify("hello\n", bytes(4) + sig.raw)
    assert not verifier.verify("hello\n", sig.raw)
    assert not verifier.verify("hello", sig.key_id + sig.raw)
    unsupported = Verifier(verifier.name, verifier.key_id, 0x02, verifier.public_key)
    assert not unsupported.verify("hello\n", sig.key_id + sig.raw)


def test_sign_note_extra_lines_are_checked_and_fresh_signature_wins():
    signer = Signer.from_seed("example.com/log", bytes(32))
    stale = signer.sign("old\n")
    assert sign_note("new\n", [signer], [stale]) == "new\n\n" + signer.sign("new\n")
    for bad in ("—example.com/w AAAA\n", "— example.com/w !!!\n", "— a b\nc"):
        with pytest.raises(NoteError):
            sign_note("new\n", [signer], [bad])
    for text in ("no newline", "nul\x00\n", "cr\r\n"):
        with pytest.raises(NoteError):
            sign_note(text, [signer])
    with pytest.raises(NoteError):
        sign_note("unsigned\n", [])


def test_at_least_sixteen_signatures_accepted_and_more_than_one_hundred_refused():
    signers = [Signer.from_seed(f"example.com/w{i}", bytes([i]) * 32) for i in range(16)]
    note = sign_note("text\n", signers)
    assert len(open_note(note, [s.verifier() for s in signers]).verified) == 16
    unknown = f"— example.com/x {_b64(bytes(68))}\n"
    assert len(parse_note(note + unknown * 84)[1]) == 100
    with pytest.raises(NoteError):
        parse_note(note + unknown * 85)


# --- malformed inputs ----------------------------------------------------------------------

GOOD_LINE = "— example.com/foo " + _b64(bytes(68)) + "\n"
MALFORMED_NOTES = {
    "empty": "",
    "only text": "text\n",
    "no blank line": "text\n" + GOOD_LINE,
    "no signatures": "text\n\n",
    "no final newline": "text\n\n" + GOOD_LINE[:-1],
    "no space after dash": "text\n\n—example.com/foo " + _b64(bytes(68)) + "\n",
    "hyphen not em dash": "text\n\n- example.com/foo " + _b64(bytes(68)) + "\n",
    "name only": "text\n\n— example.com/foo\n",
    "empty name": "text\n\n—  " + _b64(bytes(68)) + "\n",
    "plus in name": "text\n\n— a+b " + _b64(bytes(68)) + "\n",
    "bad base64": "text\n\n— example.com/foo !!!!\n",
    "unpadded base64": "text\n\n— example.com/foo " + _b64(bytes(68)).rstrip("=") + "\n",
    "key id only": "text\n\n— example.com/foo " + _b64(bytes(4)) + "\n",
    "two spaces": "text\n\n— example.com/foo  " + _b64(bytes(68)) + "\n",
    "trailing space": "text\n\n— example.com/foo " + _b64(bytes(68)) + " \n",
    "junk after signatures": "text\n\n" + GOOD_LINE + "junk\n",
    "CRLF": "text\r\n\r\n" + GOOD_LINE.replace("\n", "\r\n"),
    "NUL": "te\x00xt\n\n" + GOOD_LINE,
    "tab": "te\txt\n\n" + GOOD_LINE,
    "lone surrogate": "te\ud800xt\n\n" + GOOD_LINE,
    "over 1 MiB": "x" * MAX_NOTE_BYTES + "\n\n" + GOOD_LINE,
    "over 1 MiB of UTF-8": "é" * (MAX_NOTE_BYTES // 2) + "\n\n" + GOOD_LINE,
}


@pytest.mark.parametrize("note", list(MALFORMED_NOTES.values()), ids=list(MALFORMED_NOTES))
def test_malformed_note_raises_note_error(note):
    verifier = Signer.from_seed("example.com/foo", bytes(32)).verifier()
    with pytest.raises(NoteError):
        parse_note(note)
    with pytest.raises(NoteError):
        open_note(note, [verifier])


@pytest.mark.parametrize(
    "note", [b"text\n\n\xff\n", b"\xc3(\n\n", b"\xed\xa0\x80\n\n", None, 5, ["text\n"]]
)
def test_non_utf8_bytes_and_non_text_raise_note_error(note):
    with pytest.raises(NoteError):
        parse_note(note)  # type: ignore[arg-type]


def test_near_limit_note_is_accepted():
    signer = Signer.from_seed("example.com/foo", bytes(32))
    text = "x" * (MAX_NOTE_BYTES - 200) + "\n"
    assert open_note(sign_note(text, [signer]), [signer.verifier()]).text == text


def _skey(name: str, hex_id: str, payload: bytes) -> str:
    return f"PRIVATE+KEY+{name}+{hex_id}+{_b64(payload)}"


@needs_vectors
def test_malformed_signer_keys_raise_note_error():
    peter = _peter()
    seed = bytes.fromhex(peter["seed_hex"])
    good_id = peter["vkey"].split("+")[1]
    bad = [
        peter["skey"].replace("PRIVATE+KEY", "PRIVATE+KEX"),
        peter["skey"].lower(),
        peter["skey"][len("PRIVATE+KEY+") :],
        _skey("PeterNeumann", "c74f20a4", b"\x01" + seed),  # id of another key
        _skey("PeterNeumann", "c74f20a", b"\x01" + seed),
        _skey("PeterNeumann", "0xc74f20", b"\x01" + seed),
        _skey("PeterNeumann", "c74f20g3", b"\x01" + seed),
        _skey("PeterNeumann", good_id, b"\x02" + seed),  # wrong algorithm
        _skey("PeterNeumann", good_id, b"\x04" + seed),
        _skey("PeterNeumann", good_id, b"\x01" + seed[:31]),  # wrong length
        _skey("PeterNeumann", good_id, b"\x01" + seed + b"\x00"),
        _skey("PeterNeumann", good_id, b""),
        _skey("Peter Neumann", good_id, b"\x01" + seed),  # invalid name
        _skey("", good_id, b"\x01" + seed),
        peter["skey"] + "=",
        peter["skey"] + " ",
        "",
        None,
    ]
    for skey in bad:
        with pytest.raises(NoteError):
            Signer.from_skey(skey)  # type: ignore[arg-type]
        with pytest.raises(NoteError):
            vkey_of(skey)  # type: ignore[arg-type]


@needs_vectors
def test_malformed_verifier_keys_raise_note_error():
    name, hex_id, b64 = _peter()["vkey"].split("+")
    public = base64.b64decode(b64)[1:]
    alg2, alg6, short = b"\x02" + public, b"\x06" + public, b"\x01" + public[:31]
    bad = [
        name,
        f"{name}+{hex_id}",
        f"{name}+{hex_id}+",
        f"{name}+c74f20a4+{b64}",  # id mismatch
        f"{name}+{hex_id[:7]}+{b64}",
        f"Peter\u00a0Neumann+{hex_id}+{b64}",
        f"{name}+{hex_id}+{_b64(alg2)}",  # wrong alg
        f"{name}+{key_id(name, 6, public).hex()}+{_b64(alg6)}",  # unsupported alg
        f"{name}+{key_id(name, 1, public[:31]).hex()}+{_b64(short)}",  # 31-byte key
        f"{name}+{hex_id}+{b64[:-1]}",
        f"{name}+{hex_id}+{b64}+",
        "",
        None,
    ]
    for vkey in bad:
        with pytest.raises(NoteError):
            Verifier.from_vkey(vkey)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("example.com/foo", True),
        ("PeterNeumann", True),
        ("oid/1.3.6.1.4.1", True),
        ("grüße.example", True),
        ("", False),
        ("a+b", False),
        ("a b", False),
        ("a\tb", False),
        ("a\u00a0b", False),
        ("a\u2003b", False),
        ("a\u3000b", False),
        ("a\u2028b", False),
        ("a\x85b", False),
        ("a\x7fb", False),
        ("a\x00b", False),
        ("a\x1fb", False),
        ("\ud800", False),
    ],
)
def test_valid_name(name, ok):
    assert valid_name(name) is ok


# --- checkpoint and tlog-proof strictness --------------------------------------------------

ROOT = _b64(bytes(range(32)))
BAD_CHECKPOINTS = {
    "two lines": "Log\n123\n",
    "no final newline": f"Log\n1\n{ROOT}",
    "empty origin": f"\n1\n{ROOT}\n",
    "leading zero": f"Log\n0123\n{ROOT}\n",
    "signed size": f"Log\n+1\n{ROOT}\n",
    "negative size": f"Log\n-1\n{ROOT}\n",
    "underscore size": f"Log\n1_0\n{ROOT}\n",
    "arabic digits": f"Log\n١٢٣\n{ROOT}\n",
    "size 2^63": f"Log\n9223372036854775808\n{ROOT}\n",
    "size with space": f"Log\n1 \n{ROOT}\n",
    "root not base64": "Log\n1\nnot base64!\n",
    "root unpadded": f"Log\n1\n{ROOT.rstrip('=')}\n",
    "root non-canonical": f"Log\n1\n{ROOT[:-2]}F=\n",
    "root 31 bytes": f"Log\n1\n{_b64(bytes(31))}\n",
    "empty extension": f"Log\n1\n{ROOT}\n\n",
    "CRLF": f"Log\r\n1\r\n{ROOT}\r\n",
    "NUL in origin": f"Lo\x00g\n1\n{ROOT}\n",
    "signed note, not body": f"Log\n1\n{ROOT}\n\n{GOOD_LINE}",
}


@pytest.mark.parametrize("text", list(BAD_CHECKPOINTS.values()), ids=list(BAD_CHECKPOINTS))
def test_malformed_checkpoint_raises_checkpoint_error(text):
    with pytest.raises(CheckpointError):
        Checkpoint.parse(text)


def test_checkpoint_limits_and_extensions_round_trip():
    for size in (0, 2**63 - 1):
        text = f"example.com/log\n{size}\n{ROOT}\next one\next two\n"
        parsed = Checkpoint.parse(text)
        assert parsed.size == size and parsed.extensions == ("ext one", "ext two")
        assert parsed.body() == text
    for fields in (("", 1), ("a\nb", 1), ("Log", -1), ("Log", True), ("Log", 2**63)):
        with pytest.raises(CheckpointError):
            Checkpoint(*fields, bytes(32))  # type: ignore[arg-type]
    with pytest.raises(CheckpointError):
        Checkpoint("Log", 1, b"")
    with pytest.raises(CheckpointError):
        Checkpoint("Log", 1, bytes(32), ("",))


H = _b64(bytes(32))
BAD_PROOFS = {
    "empty": "",
    "wrong header": "c2sp.org/tlog-proof@v2\nindex 0\n\ncp\n",
    "no header": "index 0\n\ncp\n",
    "no index": "c2sp.org/tlog-proof@v1\n\ncp\n",
    "index leading zero": "c2sp.org/tlog-proof@v1\nindex 05\n\ncp\n",
    "index negative": "c2sp.org/tlog-proof@v1\nindex -1\n\ncp\n",
    "index two spaces": "c2sp.org/tlog-proof@v1\nindex  5\n\ncp\n",
    "index 2^63": "c2sp.org/tlog-proof@v1\nindex 9223372036854775808\n\ncp\n",
    "extra after index": f"c2sp.org/tlog-proof@v1\nindex 1\nextra {H}\n\ncp\n",
    "extra bad base64": "c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\ncp\n",
    "hash 31 bytes": f"c2sp.org/tlog-proof@v1\nindex 1\n{_b64(bytes(31))}\n\ncp\n",
    "hash bad base64": "c2sp.org/tlog-proof@v1\nindex 1\nnot-a-hash\n\ncp\n",
    "hash non-canonical": f"c2sp.org/tlog-proof@v1\nindex 1\n{ROOT[:-2]}F=\n\ncp\n",
    "64 hashes": "c2sp.org/tlog-proof@v1\nindex 1\n" + f"{H}\n" * 64 + "\ncp\n",
    "no empty line": "c2sp.org/tlog-proof@v1\nindex 0\n",
    "empty checkpoint": "c2sp.org/tlog-proof@v1\nindex 0\n\n",
    "two empty lines": "c2sp.org/tlog-proof@v1\nindex 0\n\n\ncp\n",
    "checkpoint no newline": "c2sp.org/tlog-proof@v1\nindex 0\n\ncp",
    "CRLF": "c2sp.org/tlog-proof@v1\r\nindex 0\r\n\r\ncp\r\n",
    "NUL in checkpoint": "c2sp.org/tlog-proof@v1\nindex 0\n\nc\x00p\n",
    "not UTF-8": b"c2sp.org/tlog-proof@v1\nindex 0\n\n\xff\n",
}


@pytest.mark.parametrize("text", list(BAD_PROOFS.values()), ids=list(BAD_PROOFS))
def test_malformed_tlog_proof_raises_checkpoint_error(text):
    with pytest.raises(CheckpointError):
        TlogProof.parse(text)


def test_tlog_proof_carries_a_real_signed_checkpoint():
    log = Signer.from_seed("example.com/log", bytes(32))
    witness = CosignatureSigner.from_seed("example.com/witness", bytes(range(32)))
    body = Checkpoint("example.com/log", 3, bytes(range(32))).body()
    note = sign_note(body, [log], [witness.cosign(body, 1_700_000_000)])
    proof = TlogProof(2, (bytes(32), bytes(range(1, 33))), note, b"")
    again = TlogProof.parse(proof.text())
    assert again == proof and again.text() == proof.text()
    opened = open_note(again.checkpoint, [log.verifier(), witness.verifier()])
    assert Checkpoint.parse(opened.text).size == 3 and len(opened.verified) == 2


# --- fuzz: arbitrary input raises only the module's own errors -----------------------------

NOTE_ALPHABET = st.sampled_from([*"— \n+=/aAz09\r\x00\t—é", "\ud800", "\u00a0"])
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_VERIFIER = Signer.from_seed("example.com/foo", bytes(32)).verifier()


def _only_own_errors(value: str | bytes) -> None:
    for parse in (
        parse_note,
        lambda v: open_note(v, [FUZZ_VERIFIER]),
        Checkpoint.parse,
        lambda v: Checkpoint.parse(v, hash_size=None),
        TlogProof.parse,
    ):
        with contextlib.suppress(NoteError, CheckpointError):
            parse(value)


@FUZZ
@given(st.one_of(st.text(), st.text(NOTE_ALPHABET), st.binary()))
def test_fuzz_arbitrary_input_raises_only_note_or_checkpoint_error(value):
    _only_own_errors(value)


@needs_vectors
@FUZZ
@given(st.data())
def test_fuzz_mutated_valid_note_never_verifies_a_changed_text(data):
    vector = NOTES["sunlight-witness-cosignature-v1-ed25519"]
    original = vector["note"]
    at = data.draw(st.integers(0, len(original)))
    cut = data.draw(st.integers(0, 3))
    insert = data.draw(st.text(NOTE_ALPHABET, max_size=3))
    mutated = original[:at] + insert + original[at + cut :]
    _only_own_errors(mutated)
    try:
        note = open_note(mutated, [Verifier.from_vkey(vector["vkey"])])
    except NoteError:
        return
    assert note.text == parse_note(original)[0]
