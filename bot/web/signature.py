"""Twilio webhook signatures: nothing unsigned gets past this decorator.

The URL Twilio signed is the public one (PUBLIC_URL), not what a proxy or TLS terminator
forwards to us, so PUBLIC_URL + path is checked first; the request's own URL is accepted
only when PUBLIC_URL is unset.
"""

from __future__ import annotations

import functools
import logging

from flask import abort, request
from twilio.request_validator import RequestValidator, get_signature_algorithm

from bot.ops.services import current as current_services

log = logging.getLogger(__name__)


def signed_url() -> str:
    public = current_services().settings.public_url
    if not public:
        return request.url
    url = public.rstrip("/") + request.path
    query = request.query_string.decode("latin-1")
    return f"{url}?{query}" if query else url


def twilio_signed(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        services = current_services()
        signature = request.headers.get("X-Twilio-Signature", "")
        algorithm = get_signature_algorithm(
            request.headers.get("X-Twilio-Webhooks-Signature-Settings")
        )
        validator = RequestValidator(services.webhook_auth_token)
        if not signature or not validator.validate(
            signed_url(), request.form, signature, algorithm
        ):
            log.warning("rejected webhook with a bad signature on %s", request.path)
            abort(403)
        return view(*args, **kwargs)

    return wrapper
