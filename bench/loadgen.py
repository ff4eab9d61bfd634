"""A small HTTP load generator for loopback benchmarks: pre-signed Twilio webhooks.

Requests are built and signed before the clock starts (``signed_requests``), exactly as Twilio
signs them (``RequestValidator.compute_signature`` over PUBLIC_URL + path and the form), each
with its own MessageSid so that every request stores a row. Two ways to drive them:

- :func:`closed_loop`: N threads, each with one keep-alive ``http.client`` connection, sending
  the next request as soon as the previous answer is read: the most the server can take.
  (A server that closes after each answer, like gunicorn's sync worker, makes ``http.client``
  reconnect for the next request; that cost is then part of what is measured.)
- :func:`open_loop`: a fixed offered rate. Request *i* is due at ``start + i / rate`` whatever
  happened before; its latency is counted from when it was due, not from when it was sent, so a
  slow server cannot hide its queueing delay by slowing the generator down (no coordinated
  omission).

Only loopback addresses are used by the benchmarks that call these.
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

SignedRequest = tuple[bytes, dict[str, str]]


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear interpolation between closest ranks (the usual definition, as numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def inbound_params(
    message_sid: str, sender: str, body: str, to: str, account_sid: str
) -> dict[str, str]:
    return {
        "MessageSid": message_sid,
        "SmsMessageSid": message_sid,
        "AccountSid": account_sid,
        "From": sender,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }


def signed_requests(
    count: int,
    *,
    public_url: str,
    path: str,
    auth_token: str,
    account_sid: str,
    to: str,
    senders: Sequence[str],
    body: Callable[[int], str] = lambda i: f"semax|question {i}",
) -> list[SignedRequest]:
    """``count`` distinct signed webhooks (a fresh MessageSid each), senders taken in turn."""
    url = public_url.rstrip("/") + path
    validator = RequestValidator(auth_token)
    out = []
    for i in range(count):
        params = inbound_params(
            "SM" + uuid.uuid4().hex, senders[i % len(senders)], body(i), to, account_sid
        )
        headers = {
            "X-Twilio-Signature": validator.compute_signature(url, params),
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
        }
        out.append((urlencode(params).encode(), headers))
    return out


def senders(count: int, start: int = 5_550_000) -> list[str]:
    return [f"+1555{start + n:07d}" for n in range(count)]


@dataclass
class LoadResult:
    mode: str
    sent: int
    elapsed_s: float
    statuses: Counter = field(default_factory=Counter)
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # from due time (open) / send (closed)
    service_ms: list[float] = field(default_factory=list)  # from send to answer
    offered_rate: float | None = None
    exhausted: bool = False

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def p(self, pct: float) -> float:
        return percentile(self.latencies_ms, pct)

    def summary(self) -> dict:
        return {
            "mode": self.mode,
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "statuses": dict(self.statuses),
            "elapsed_s": self.elapsed_s,
            "req_per_s": self.rate,
            "offered_rate": self.offered_rate,
            "p50_ms": self.p(50),
            "p90_ms": self.p(90),
            "p99_ms": self.p(99),
            "max_ms": max(self.latencies_ms) if self.latencies_ms else float("nan"),
            "service_p50_ms": percentile(self.service_ms, 50),
            "service_p99_ms": percentile(self.service_ms, 99),
            "exhausted": self.exhausted,
        }


def _connection(host: str, port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(host, port, timeout=30)


def _post(
    conn: http.client.HTTPConnection, path: str, request: SignedRequest
) -> tuple[int | None, http.client.HTTPConnection]:
    """One POST on the connection; reconnects once if the server had closed it."""
    body, headers = request
    for attempt in (1, 2):
        try:
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            response.read()
            if response.will_close:
                conn.close()  # http.client reopens on the next request
            return response.status, conn
        except (http.client.HTTPException, OSError):
            conn.close()
            if attempt == 2:
                return None, conn
    return None, conn


def closed_loop(
    host: str,
    port: int,
    path: str,
    requests: Sequence[SignedRequest],
    *,
    concurrency: int,
    duration_s: float,
    max_requests: int | None = None,
) -> LoadResult:
    """As fast as the server answers, ``concurrency`` requests in flight, for ``duration_s``."""
    counter = itertools.count()
    limit = min(len(requests), max_requests or len(requests))
    lock = threading.Lock()
    result = LoadResult("closed", 0, 0.0)
    barrier = threading.Barrier(concurrency + 1)
    start_box: list[float] = []
    last_done = [0.0]

    def run() -> None:
        conn = _connection(host, port)
        lat, statuses, errors, sent, latest = [], Counter(), 0, 0, 0.0
        barrier.wait()
        deadline = start_box[0] + duration_s
        while True:
            now = time.perf_counter()
            if now >= deadline:
                break
            i = next(counter)
            if i >= limit:
                with lock:
                    result.exhausted = True
                break
            status, conn = _post(conn, path, requests[i])
            done = time.perf_counter()
            sent += 1
            if status is None:
                errors += 1
            else:
                statuses[status] += 1
                lat.append((done - now) * 1000)
            latest = done
        conn.close()
        with lock:
            result.sent += sent
            result.errors += errors
            result.statuses.update(statuses)
            result.latencies_ms.extend(lat)
            last_done[0] = max(last_done[0], latest)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start_box.append(time.perf_counter())
    barrier.wait()
    for thread in threads:
        thread.join()
    result.elapsed_s = max(last_done[0] - start_box[0], 1e-9)
    result.service_ms = list(result.latencies_ms)
    return result


def open_loop(
    host: str,
    port: int,
    path: str,
    requests: Sequence[SignedRequest],
    *,
    rate: float,
    count: int,
    threads: int = 32,
) -> LoadResult:
    """``count`` requests offered at ``rate`` per second, each due at its own time.

    Thread k sends requests k, k+threads, ... on its own keep-alive connection. A request whose
    thread is still busy when it falls due goes out late, and its latency still counts from the
    due time.
    """
    count = min(count, len(requests))
    lock = threading.Lock()
    result = LoadResult("open", 0, 0.0, offered_rate=rate)
    barrier = threading.Barrier(threads + 1)
    start_box: list[float] = []
    last_done = [0.0]

    def run(k: int) -> None:
        conn = _connection(host, port)
        lat, service, statuses, errors, sent, latest = [], [], Counter(), 0, 0, 0.0
        barrier.wait()
        start = start_box[0]
        for i in range(k, count, threads):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent_at = time.perf_counter()
            status, conn = _post(conn, path, requests[i])
            done = time.perf_counter()
            sent += 1
            if status is None:
                errors += 1
            else:
                statuses[status] += 1
                lat.append((done - due) * 1000)
                service.append((done - sent_at) * 1000)
            latest = max(latest, done)
        conn.close()
        with lock:
            result.sent += sent
            result.errors += errors
            result.statuses.update(statuses)
            result.latencies_ms.extend(lat)
            result.service_ms.extend(service)
            last_done[0] = max(last_done[0], latest)

    workers = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(threads)]
    for worker in workers:
        worker.start()
    start_box.append(time.perf_counter() + 0.05)
    barrier.wait()
    for worker in workers:
        worker.join()
    result.elapsed_s = max(last_done[0] - start_box[0], 1e-9)
    return result
