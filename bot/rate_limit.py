"""Per-number rate limits in Redis, shared by every worker.

Past the limit a number gets one polite notice per window, then its messages are still
stored (nothing is lost) but not answered. The same text repeated many times — the usual sign
of two bots answering each other — is cut off sooner. Members of the sorted sets are the
MessageSids, so a job that runs twice counts its message once. Moderators are not limited.
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


def _over(pipe_client: redis.Redis, key: str, member: str, now: float, window: int, limit: int):
    pipe = pipe_client.pipeline()
    pipe.zadd(key, {member: now})
    pipe.zremrangebyscore(key, 0, now - window)
    pipe.zcard(key)
    pipe.expire(key, window)
    return pipe.execute()[2] > limit


def check(
    client: redis.Redis,
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
        too_many = _over(client, f"ledgerbot:rl:{number}", message_sid, now, window_s, limit)
        repeated = _over(
            client, f"ledgerbot:rl:{number}:{digest}", message_sid, now, window_s, REPEAT_LIMIT
        )
        if not (too_many or repeated):
            return Verdict.OK
        first = client.set(f"ledgerbot:rl-notice:{number}", message_sid, nx=True, ex=window_s)
        if first or client.get(f"ledgerbot:rl-notice:{number}") == message_sid.encode():
            return Verdict.NOTICE
        return Verdict.SILENT
    except redis.RedisError:
        return Verdict.OK  # never refuse service because the limiter is unavailable
