"""The OpenAPI description of the transparency endpoints (``bot/web/tlog.py``).

The C2SP tlog-tiles paths (``/tlog/tile/…``) are not listed: their index is several path
segments (``x001/234``), which OpenAPI cannot describe; c2sp.org/tlog-tiles is their contract.
"""

from __future__ import annotations

from typing import Any

from bot.web.limits import SEQ_MAX
from bot.web.openapi_parts import BAD_REQUEST, CORS, NOT_FOUND, _get, _json, _object, _ref

B64_HASH = {
    "type": "string",
    "format": "byte",
    "pattern": "^[A-Za-z0-9+/]{43}=$",
    "description": "a SHA-256 hash, standard base64",
}
SIZE = {"type": "integer", "minimum": 0}
HASHES = {"type": "array", "items": B64_HASH, "maxItems": 64}


SIGNED = {
    **_object({"size": SIZE, "root": B64_HASH}),
    "nullable": True,
    "description": "the latest signed checkpoint (null before the first is signed)",
}

SCHEMAS: dict[str, Any] = {
    "TreeHead": _object(
        {"tree_size": SIZE, "root": B64_HASH, "checkpoint": SIGNED},
        description="The RFC 9162 tree over the entries: leaf n is entry n + 1's canonical "
        "JSON without hash (the very bytes its hash covers).",
    ),
    "InclusionProof": _object(
        {
            "seq": {"type": "integer", "minimum": 1},
            "index": SIZE,
            "size": {"type": "integer", "minimum": 1},
            "root": B64_HASH,
            "hashes": HASHES,
        },
        description="RFC 9162 inclusion proof of leaf `index` (= seq - 1) in the tree of `size`.",
    ),
    "ConsistencyProof": _object(
        {
            "from": {"type": "integer", "minimum": 1},
            "to": {"type": "integer", "minimum": 1},
            "from_root": B64_HASH,
            "to_root": B64_HASH,
            "hashes": HASHES,
        },
        description="RFC 9162 consistency proof from the tree of size `from` to size `to`.",
    ),
}


def paths() -> dict[str, Any]:
    seq = {
        "name": "seq",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 0, "maximum": SEQ_MAX},
    }

    def size_param(name: str, text: str, required: bool = False) -> dict:
        schema = {"type": "integer", "minimum": 0, "maximum": SEQ_MAX}
        return {
            "name": name,
            "in": "query",
            "required": required,
            "schema": schema,
            "description": text,
        }

    def text(description: str) -> dict:
        return {
            "description": description,
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "headers": CORS,
        }

    plain_404 = text("nothing signed yet")
    return {
        "/api/ledger/{seq}/proof": _get(
            "getEntryProof",
            "A c2sp.org/tlog-proof@v1 file: the entry (extra line), its inclusion path and the "
            "signed checkpoint with witness cosignatures",
            text("the proof file (save as .tlog-proof)"),
            parameters=[seq, size_param("size", "prove against this checkpoint size")],
            **{"400": BAD_REQUEST, "404": NOT_FOUND},
        ),
        "/api/ledger/{seq}/inclusion": _get(
            "getInclusionProof",
            "The inclusion proof of an entry in the tree of `size` (default: the head)",
            _json(_ref("InclusionProof"), "the proof", CORS),
            parameters=[seq, size_param("size", "tree size, from seq to the head")],
            **{"400": BAD_REQUEST, "404": NOT_FOUND},
        ),
        "/api/ledger/consistency": _get(
            "getConsistencyProof",
            "The consistency proof between two tree sizes",
            _json(_ref("ConsistencyProof"), "the proof", CORS),
            parameters=[
                size_param("from", "the older size, at least 1", required=True),
                size_param("to", "the newer size (default: the head)"),
            ],
            **{"400": BAD_REQUEST, "404": NOT_FOUND},
        ),
        "/tlog/checkpoint": _get(
            "getCheckpoint",
            "The latest signed checkpoint (c2sp.org/tlog-checkpoint) with cosignatures",
            text("a signed note"),
            **{"404": plain_404},
        ),
        "/tlog/vkey": _get(
            "getVerifierKey",
            "The log's signed-note verifier key (pin it; check it out of band)",
            text("name+id+key"),
        ),
    }
