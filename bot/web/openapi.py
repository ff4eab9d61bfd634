"""The OpenAPI 3 description of ``bot/api.py``, served at ``/api/openapi.json``.

Built from the same constants the API and the statistics use (tiers, source groups, page
limits, score labels), so the contract cannot drift from the code on those points; the tests
fuzz the API against this document to catch drift anywhere else.
"""

from __future__ import annotations

from typing import Any

from bot.web import openapi_tlog
from bot.web.limits import PAGE_DEFAULT, PAGE_MAX, SEQ_MAX
from bot.web.openapi_parts import (
    BAD_REQUEST,
    CORS,
    ETAGGED,
    IF_NONE_MATCH,
    NOT_FOUND,
    NOT_MODIFIED,
    SLUG,
    _get,
    _json,
    _object,
    _ref,
)
from ledger.article_counts import CONFIDENCE_FIELDS, FOOTER_COUNTS
from ledger.article_sections import SECTION_KEYS
from ledger.confidence import FORMULA, LABELS, WEIGHTS
from ledger.models import TIERS
from ledger.stats import SOURCE_GROUPS

HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
COUNT = {"type": "integer", "minimum": 0}
SEQ = {"type": "integer", "minimum": 1}


def _counts(names) -> dict[str, Any]:
    return _object({name: COUNT for name in names})


ARTICLE = {
    "slug": {"type": "string"},
    "title": {"type": "string"},
    "summary": {"type": "string"},
    "limits": {"type": "string"},
    "url": {"type": "string", "description": "the HTML page, relative to this host"},
    "stats": _ref("Stats"),
    "declared": _ref("Declared"),
}

SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": {"type": "string"}, "message": {"type": "string"}}),
    "Confidence": _object(
        {
            "value": {"type": "number", "minimum": 0, "maximum": WEIGHTS.ceiling},
            "label": {"type": "string", "enum": list(LABELS)},
            "formula": {"type": "string", "enum": [FORMULA]},
        },
        description="How much graded evidence is catalogued; not clinical certainty.",
    ),
    "Stats": _object(
        {
            "sources": _counts(SOURCE_GROUPS),
            "sources_by_kind": {"type": "object", "additionalProperties": COUNT},
            "total_sources": COUNT,
            "claims": _counts(TIERS),
            "total_claims": COUNT,
            "questions": _counts(("open", "answered")),
            "pending": COUNT,
            "confidence": _ref("Confidence"),
        },
        description="Computed from the article's ledger entries (pending: evidence awaiting "
        "review, not yet in the ledger).",
    ),
    "DeclaredCount": _object(
        {
            "key": {"type": "string"},
            "label": {"type": "string", "description": "as the published article words it"},
            "section": {"type": "string", "enum": ["inventory", "how_many"]},
            "declared": COUNT,
            "catalogued": {**COUNT, "nullable": True, "description": "null: no such count here"},
            "differs": {"type": "boolean"},
        },
        description="A count the published article declared, beside the ledger's own count of "
        "the same thing (catalogued).",
    ),
    "Declared": _object(
        {
            "note": {"type": "string", "nullable": True},
            "counts": {"type": "array", "items": _ref("DeclaredCount")},
            "confidence": {
                **_object(
                    {
                        **{name: {"type": "string"} for name in CONFIDENCE_FIELDS},
                        "differs": {"type": "boolean"},
                    }
                ),
                "required": ["differs"],
                "nullable": True,
                "description": "the published confidence line, as printed",
            },
            "footer": {**_counts(FOOTER_COUNTS), "required": []},
        },
        description="What the published article declared (its counts describe the publisher's "
        "whole ledger). The ledger's own counts are in stats: they are catalogued, these declared.",
    ),
    "Section": {
        "type": "object",
        "required": ["key"],
        "properties": {
            "key": {"type": "string", "enum": list(SECTION_KEYS)},
            "heading": {"type": "string"},
            "sources": {"type": "array", "items": {"type": "string"}},
        },
        "description": "One section of the published article, in page order (see "
        "ledger/article_text.py for each key's fields).",
    },
    "Article": _object(ARTICLE),
    "ArticleDetail": _object(
        {
            **ARTICLE,
            "article_seq": {**SEQ, "nullable": True, "description": "the article entry shown"},
            "sections": {"type": "array", "items": _ref("Section")},
        }
    ),
    "Claim": _object(
        {
            "seq": SEQ,
            "kind": {"type": "string", "enum": ["claim", "evidence"]},
            "tier": {"type": "string", "enum": list(TIERS)},
            "text": {"type": "string"},
            "sid": {"type": "string", "nullable": True},
            "node_id": {"type": "integer", "nullable": True},
        }
    ),
    "Question": _object(
        {
            "seq": SEQ,
            "node_id": {"type": "integer"},
            "question": {"type": "string"},
            "asker": {"type": "string", "description": "a pseudonym, never a number"},
            "status": {"type": "string", "enum": ["open", "answered"]},
            "answered_by": {"type": "array", "items": SEQ},
        }
    ),
    "LedgerEntry": _object(
        {
            "seq": SEQ,
            "kind": {"type": "string"},
            "slug": {"type": "string"},
            "payload": {"type": "object"},
            "prev_hash": HASH,
            "created_at": {"type": "string"},
            "hash": HASH,
        },
        description="The public entry format (see README): hash is the SHA-256 of the "
        "canonical JSON of the other six fields.",
    ),
    "LedgerHead": _object(
        {"seq": COUNT, "hash": HASH, **openapi_tlog.SCHEMAS["TreeHead"]["properties"]},
        description="The chain's tip and the tree at it (tree_size = seq).",
    ),
    **openapi_tlog.SCHEMAS,
}


def _page_param(name: str, low: int, high: int, default: int, text: str) -> dict:
    schema = {"type": "integer", "minimum": low, "maximum": high, "default": default}
    return {"name": name, "in": "query", "schema": schema, "description": text}


ARTICLES = {"type": "array", "items": _ref("Article")}
TIER = {"name": "tier", "in": "query", "schema": {"type": "string", "enum": list(TIERS)}}
PAGE = _object(
    {
        "after": COUNT,
        "limit": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX},
        "next_after": COUNT,
        "entries": {"type": "array", "items": _ref("LedgerEntry")},
    }
)
CLAIMS = _object(
    {
        "slug": {"type": "string"},
        "tier": {"type": "string", "enum": list(TIERS), "nullable": True},
        "claims": {"type": "array", "items": _ref("Claim")},
    }
)
QUESTIONS = _object(
    {"slug": {"type": "string"}, "questions": {"type": "array", "items": _ref("Question")}}
)
SEQ_PARAM = {
    "name": "seq",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0, "maximum": SEQ_MAX},
}


def _article_paths() -> dict[str, Any]:
    return {
        "/api/articles": _get(
            "listArticles",
            "Every article with its statistics",
            _json(_object({"articles": ARTICLES}), "the articles, by slug", CORS),
        ),
        "/api/articles/{slug}": _get(
            "getArticle",
            "One article with its statistics, declared counts, score, formula and sections",
            _json(_ref("ArticleDetail"), "the article", CORS),
            parameters=[SLUG],
            **{"404": NOT_FOUND},
        ),
        "/api/articles/{slug}/claims": _get(
            "listClaims",
            "Claims from the article's ledger entries, optionally of one tier",
            _json(CLAIMS, "claims in ledger order", CORS),
            parameters=[SLUG, TIER],
            **{"400": BAD_REQUEST, "404": NOT_FOUND},
        ),
        "/api/articles/{slug}/questions": _get(
            "listQuestions",
            "Question nodes on the article, open or answered",
            _json(QUESTIONS, "questions in ledger order", CORS),
            parameters=[SLUG],
            **{"404": NOT_FOUND},
        ),
    }


def _ledger_paths() -> dict[str, Any]:
    return {
        "/api/ledger": _get(
            "listLedgerEntries",
            "Ledger entries in ascending seq after `after`",
            _json(PAGE, "a page of entries; pass next_after as after for the next", ETAGGED),
            parameters=[
                _page_param("after", 0, SEQ_MAX, 0, "return entries with seq greater than this"),
                _page_param("limit", 1, PAGE_MAX, PAGE_DEFAULT, "at most this many entries"),
                IF_NONE_MATCH,
            ],
            **{"304": NOT_MODIFIED, "400": BAD_REQUEST},
        ),
        "/api/ledger/head": _get(
            "getLedgerHead",
            "The chain's tip (seq 0 and 64 zeros when the ledger is empty)",
            _json(_ref("LedgerHead"), "the head", CORS),
        ),
        "/api/ledger/{seq}": _get(
            "getLedgerEntry",
            "One ledger entry; its ETag is its hash",
            _json(_ref("LedgerEntry"), "the entry", ETAGGED),
            parameters=[SEQ_PARAM, IF_NONE_MATCH],
            **{"304": NOT_MODIFIED, "404": NOT_FOUND},
        ),
    }


def document() -> dict[str, Any]:
    proofs = openapi_tlog.paths()
    paths = {**_article_paths(), **_ledger_paths(), **proofs}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "ledgerbot public API",
            "version": "1",
            "description": "Read-only access to the evidence ledger. Not medical advice.",
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }
