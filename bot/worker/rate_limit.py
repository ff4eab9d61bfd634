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
    return check_many(
        client, prefix, [(number, body, message_sid)], limit=limit, window_s=window_s, now=now
    )[0]


def check_many(
    client: redis.Redis,
    prefix: str,
    messages: list[tuple[str, str, str]],
    *,
    limit: int,
    window_s: int,
    now: float | None = None,
) -> list[Verdict]:
    """:func:`check` for several (number, body, MessageSid), in order, in one round trip (a
    batch of messages, ``bot.worker.take_along``); more only for those over a limit."""
    now = time.time() if now is None else now
    try:
        pipe = client.pipeline(transaction=False)  # one round trip for every window
        for number, body, message_sid in messages:
            digest = hashlib.sha256(body.strip().casefold().encode("utf-8", "replace"))
            for key in (f"{prefix}:{number}", f"{prefix}:{number}:{digest.hexdigest()[:16]}"):
                pipe.zadd(key, {message_sid: now})
                pipe.zremrangebyscore(key, 0, now - window_s)
                pipe.zcard(key)
                pipe.expire(key, window_s)
        results = pipe.execute()
        verdicts = []
        for k, (number, _, message_sid) in enumerate(messages):
            counts = results[8 * k : 8 * k + 8]
            if counts[2] > limit or counts[6] > REPEAT_LIMIT:
                verdicts.append(_over(client, prefix, number, message_sid, window_s))
            else:
                verdicts.append(Verdict.OK)
        return verdicts
    except redis.RedisError:
        return [Verdict.OK] * len(messages)  # never refuse service: the limiter is down


def _over(client: redis.Redis, prefix: str, number: str, message_sid: str, window_s: int):
    """Over a limit: the first such message of the window is told so, the rest are not."""
    notice_key = f"{prefix}-notice:{number}"
    first = client.set(notice_key, message_sid, nx=True, ex=window_s)
    if first or client.get(notice_key) == message_sid.encode():
        return Verdict.NOTICE
    return Verdict.SILENT
