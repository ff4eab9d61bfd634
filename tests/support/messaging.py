"""Helpers to talk to the bot the way Twilio does, and to run a real worker in burst mode."""

from __future__ import annotations

import urllib.parse
import urllib.request
import uuid

from rq import SimpleWorker
from rq.serializers import JSONSerializer

from tests.support.settings import BOT_NUMBER, WHATSAPP_NUMBER, sign


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
    """Over real HTTP, exactly as Twilio would call us."""
    request = urllib.request.Request(
        base_url + path,
        data=urllib.parse.urlencode(params).encode(),
        headers={"X-Twilio-Signature": sign(params, path)},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def drain(services) -> bool:
    """Run a real RQ worker over the real Redis until the queue is empty."""
    worker = SimpleWorker([services.queue], connection=services.redis, serializer=JSONSerializer)
    return worker.work(burst=True, with_scheduler=False)
