"""``GET /metrics``: the Prometheus exposition (counts only: no numbers, no text)."""

from __future__ import annotations

from flask import Blueprint, Response

from bot.ops.metrics import CONTENT_TYPE, render
from bot.ops.services import current as current_services

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    services = current_services()
    response = Response(render(services), content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response
