"""Per-number rate limits in Redis, shared by every worker.

Past the limit a number gets one polite notice per window, then its messages are still
stored (nothing is lost) but not answered. The same text repeated many times — the usual sign
of two bots answering each other — is cut off sooner. Members of the sorted sets are the
MessageSids, so a job that runs twice counts its message once. Moderators are not limited.
Keys start with the deployment's prefix (``Settings.redis_key``), so two deployments sharing
one Redis keep separate limits.
"""

from __future__ import annotations

import hashlib
import time
from enum import StrEnum

import redis

REPEAT_LIMIT = 5
NOTICE = (
    "You have sent a lot of messages in a short time; ledgerbot will answer again in a few "
    "minutes. Your messages are kept."
)


class Verdict(StrEnum):
    OK = "ok"
    NOTICE = "notice"  # over the limit: say so, once per window
    SILENT = "silent"  # over the limit and already told


def check(
    client: redis.Redis,
    prefix: str,
    number: str,
    body: str,
    message_sid: str,
    *,
    limit: int,
    window_s: int,
    now: float | None = None,
) -> Verdict:
    now = time.time() if now is None else now
    digest = hashlib.sha256(body.strip().casefold().encode("utf-8", "replace")).hexdigest()[:16]
    try:
        pipe = client.pipeline(transaction=False)  # one round trip for both windows
        for key in (f"{prefix}:{number}", f"{prefix}:{number}:{digest}"):
            pipe.zadd(key, {message_sid: now})
            pipe.zremrangebyscore(key, 0, now - window_s)
            pipe.zcard(key)
            pipe.expire(key, window_s)
        results = pipe.execute()
        too_many, repeated = results[2] > limit, results[6] > REPEAT_LIMIT
        if not (too_many or repeated):
            return Verdict.OK
        notice_key = f"{prefix}-notice:{number}"
        first = client.set(notice_key, message_sid, nx=True, ex=window_s)
        if first or client.get(notice_key) == message_sid.encode():
            return Verdict.NOTICE
        return Verdict.SILENT
    except redis.RedisError:
        return Verdict.OK  # never refuse service because the limiter is unavailable
