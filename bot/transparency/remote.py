"""The monitor's view of a log over HTTP: one session per thread, bounded, in-order prefetch.

Kept apart from ``bot.transparency.monitor`` (the checks) so that what is trusted — the
signed notes and the hashes — reads on its own.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import requests

TIMEOUT_S = (5.0, 30.0)
DEADLINE_S = 120.0  # for one whole response, however slowly it trickles
AHEAD = 4  # per stream, requests in flight while catching up (bundles and tiles: twice that)


class MonitorError(Exception):
    """Operational trouble (arguments, state file, an unusable answer): exit 1, no evidence,
    because nothing in it proves the log misbehaved."""


class NetworkError(MonitorError):
    """The log was unreachable or answered other than 200: worth retrying (``--follow``)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status, when the log answered at all


def _cap(path: str) -> int:
    """The most a well-behaved log sends for ``path`` (tlog-tiles sizes, our API's pages)."""
    if path.startswith("/tlog/tile/entries/"):
        return 256 * (2 + 65_535)
    if path.startswith("/tlog/tile/"):
        return 256 * 32
    if path.startswith("/tlog/"):
        return 1 << 20
    if path.startswith("/media/"):
        return 16 << 20  # the largest file the bot accepts (bot.media.clean)
    return 256 << 20  # a page of up to 1,000 entries of up to 64 KiB, \u-escaped JSON


class Remote:
    """The log's public HTTP API: one keep-alive session per thread (requests does not promise
    that a Session is thread-safe, and catch-up reads from a few threads)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._local = threading.local()

    def get(self, path: str, params: dict[str, int] | None = None) -> bytes:
        """The body, read within a size cap and a deadline: a hostile log must not be able to
        exhaust the monitor's memory or hold it forever by trickling bytes."""
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
        cap, deadline = _cap(path), time.monotonic() + DEADLINE_S
        try:
            with http.get(self.url + path, params=params, timeout=TIMEOUT_S, stream=True) as got:
                chunks, size = [], 0
                for chunk in got.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > cap or time.monotonic() > deadline:
                        raise NetworkError(
                            f"{self.url}{path}: over {cap:,} bytes or {DEADLINE_S:g} s"
                        )
                    chunks.append(chunk)
                status, url = got.status_code, got.url
        except requests.RequestException as exc:
            raise NetworkError(f"{self.url}{path}: {exc}") from None
        content = b"".join(chunks)
        if status != 200:
            text = content[:200].decode("utf-8", "replace").strip()
            raise NetworkError(f"{url}: HTTP {status} {text}", status=status)
        return content

    def json(self, path: str, params: dict[str, int] | None = None) -> dict[str, Any]:
        try:
            data = json.loads(self.get(path, params))
        except ValueError as exc:
            raise MonitorError(f"{self.url}{path}: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise MonitorError(f"{self.url}{path}: not a JSON object")
        return data


def tile_fetcher(remote: Remote) -> Callable[[str], bytes]:
    """A TileReader fetch for one round. Level-0 tiles and bundles are read once each; the few
    upper tiles (one per 65,536 entries) are kept, as each bundle's check climbs through them."""
    upper: dict[str, bytes] = {}

    def fetch(path: str) -> bytes:
        if path.startswith(("tile/0/", "tile/entries/")):
            return remote.get("/tlog/" + path)
        if path not in upper:
            upper[path] = remote.get("/tlog/" + path)
        return upper[path]

    return fetch


def ranges(begin: int, end: int, step: int) -> Iterator[tuple[int, int]]:
    """[begin, end) cut at multiples of ``step``."""
    while begin < end:
        stop = min(end, (begin // step + 1) * step)
        yield begin, stop
        begin = stop


def ahead(
    pool: ThreadPoolExecutor, job: Callable, items: Iterable, depth: int = AHEAD
) -> Iterator[Any]:
    """job(item) for each item, in order, with up to ``depth`` of them running ahead."""
    running: deque[Future] = deque()
    for item in items:
        running.append(pool.submit(job, item))
        if len(running) >= depth:
            yield running.popleft().result()
    while running:
        yield running.popleft().result()
