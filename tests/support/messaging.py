"""Helpers to talk to the bot the way Twilio does, and to run a real worker in burst mode."""

from __future__ import annotations

import uuid

from rq import SimpleWorker
from rq.serializers import JSONSerializer

from bot.cli.text import signed_post
from tests.support.settings import AUTH_TOKEN, BOT_NUMBER, PUBLIC_URL, WHATSAPP_NUMBER, sign


def inbound_params(sender: str, body: str, *, whatsapp: bool = False, sid: str | None = None):
    prefix = "whatsapp:" if whatsapp else ""
    return {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "1" * 32,
        "From": prefix + sender,
        "To": prefix + (WHATSAPP_NUMBER if whatsapp else BOT_NUMBER),
        "Body": body,
        "NumMedia": "0",
    }


def post_signed(client, params: dict, path: str = "/twilio/messages", headers=None, base=None):
    """Through Flask's test client."""
    signature = sign(params, path, base=base) if base else sign(params, path)
    all_headers = {"X-Twilio-Signature": signature, **(headers or {})}
    return client.post(path, data=params, headers=all_headers)


def http_post_signed(base_url: str, params: dict, path: str = "/twilio/messages") -> int:
    """Over real HTTP, exactly as Twilio would call us (signed for the public URL)."""
    return signed_post(base_url + path, params, AUTH_TOKEN, PUBLIC_URL + path)


def drain(services) -> bool:
    """Run a real RQ worker over the real Redis until the queue is empty."""
    worker = SimpleWorker([services.queue], connection=services.redis, serializer=JSONSerializer)
    return worker.work(burst=True, with_scheduler=False)
