"""The building blocks both OpenAPI modules use (``openapi`` and ``openapi_tlog``)."""

from __future__ import annotations

from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


def _json(schema: dict[str, Any], description: str, headers: dict | None = None) -> dict:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


CORS = {"Access-Control-Allow-Origin": {"schema": {"type": "string", "enum": ["*"]}}}
ETAGGED = {**CORS, "ETag": {"required": True, "schema": {"type": "string"}}}
ERROR = _ref("Error")
NOT_FOUND = _json(ERROR, "no such article or entry", CORS)
BAD_REQUEST = _json(ERROR, "a query parameter is invalid", CORS)
NOT_MODIFIED = {"description": "matches If-None-Match", "headers": ETAGGED}
SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}


def _get(operation_id: str, summary: str, ok: dict, *, parameters=(), **more) -> dict:
    responses = {"200": ok, **more}
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": list(parameters),
            "responses": responses,
        }
    }
