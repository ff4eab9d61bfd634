"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from bot.ops.services import current as current_services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(ok=True)


@bp.get("/readyz")
def readyz():
    services = current_services()
    checks: dict[str, str] = {}
    try:
        with services.read_sessions() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        services.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return jsonify(ready=ready, checks=checks), 200 if ready else 503
