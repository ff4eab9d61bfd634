"""Evidence files over HTTP: moderators see pending ones, everyone sees approved ones.

A file is served from the media store (``bot.media.store``) by its SHA-256, under headers
that keep a hostile file harmless even if the cleaning missed something: the stored type and
``nosniff`` (the browser never guesses), ``Content-Disposition`` (pictures inline, PDFs as
downloads), and a ``sandbox`` policy with ``default-src 'none'`` (no script, no plugin, no
request back to us, even when opened as a page of its own).

``/moderate/media/<sha256>`` needs a moderator's login and serves files of items under
review; ``/media/<sha256>`` serves a file only once an approved ledger entry commits to it,
and forever after (its name is its hash, so it is cached as immutable).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request
from flask_login import login_required
from sqlalchemy import select

from bot.media.evidence import published
from bot.media.models import MediaFile
from bot.media.store import SHA256, MediaStore
from bot.ops.services import current as current_services

bp = Blueprint("media", __name__)
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "application/pdf": "pdf",
}
SANDBOX = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
YEAR = 365 * 24 * 3600


def _file_response(row: MediaFile, cache: str) -> Response:
    services = current_services()
    data = MediaStore(services.settings.resolved_media_dir).read(row.sha256)
    if data is None:
        abort(404)
    extension = EXTENSIONS.get(row.content_type, "bin")
    disposition = "attachment" if extension in ("pdf", "bin") else "inline"
    response = Response(data, mimetype=row.content_type)
    response.headers.update(
        {
            "Content-Disposition": f'{disposition}; filename="{row.sha256[:16]}.{extension}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": SANDBOX,
            "Cross-Origin-Resource-Policy": "same-origin",
            "Cache-Control": cache,
        }
    )
    response.set_etag(row.sha256)
    return response.make_conditional(request)  # If-None-Match: 304, no body


def _checked(sha256: str) -> str:
    if not SHA256.fullmatch(sha256):
        abort(404)
    return sha256


@bp.get("/media/<sha256>")
def public_file(sha256: str):
    with current_services().read_sessions() as session:
        row = published(session, _checked(sha256))
        if row is None:
            abort(404)
    return _file_response(row, f"public, max-age={YEAR}, immutable")


@bp.get("/moderate/media/<sha256>")
@login_required
def moderator_file(sha256: str):
    with current_services().read_sessions() as session:
        row = session.scalar(select(MediaFile).where(MediaFile.sha256 == _checked(sha256)))
        if row is None:
            abort(404)
    return _file_response(row, "private, no-store")
