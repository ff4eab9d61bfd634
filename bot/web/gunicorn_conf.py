"""Gunicorn settings for ledgerbot's web server: ``gunicorn -c python:bot.web.gunicorn_conf``.

``ledgerbot up`` serves with these, with nothing in front of gunicorn, so they must survive
slow clients on their own. Measured with ``bench.harness.Stack`` and ``bench.loadgen`` on the
2-core dev machine (SQLite, 2 workers each, throughput the median of 3 alternating rounds):

=========================  ==============================  ================================
worker                     signed webhook, 50 slow         closed loop, 8 connections
                           connections open (120; 150)     (open loop 200/s: p50, p99)
=========================  ==============================  ================================
sync (before)              10 s timeouts until gunicorn    553 req/s, p99 22 ms
                           kills the stuck workers         (2.8 ms, 4.6 ms)
gthread 2 x 64             p50 6 ms, max 9 ms (150: 3 of   465 req/s, p99 188 ms
                           34 timed out; none ever cut)    (2.7 ms, 7.6 ms)
gevent 2 x 1000            p50 6 ms, max 17 ms (150: max   625 req/s, p99 33 ms
                           28 ms)                          (2.9 ms, 6.8 ms)
this module (below)        p50 6 ms, max 43 ms (120: max   520 req/s, p99 47 ms
                           36 ms; 150: one of 34 at 7 s)   (2.9 ms, 5.7 ms)
=========================  ==============================  ================================

(Slow connections: half never finish their headers, half trickle a declared body a byte a
second; each is reopened as soon as the server drops it. A webhook every second meanwhile.)

Why threads, and not gevent: a sync worker reads one request at a time, so two clients that
never finish a request hold both workers. gthread gives each connection a thread; gevent a
greenlet, and it was faster here, but it is a new dependency that monkey-patches the sockets
under psycopg, redis-py and SQLite, and it bounds slow headers (by ``keepalive``) but never a
slow body. A plain gthread worker bounds neither.

Why a read deadline: gunicorn 27's gthread worker waits 5 s for a new connection's first byte
and then parks it without a thread, but once a request has begun its thread reads the request
line, headers and body with no time limit (``--timeout`` is the workers' heartbeat,
``--keep-alive`` the idle time between requests, ``--graceful-timeout`` the shutdown grace, and
``limit_request_*`` bound sizes, not time). So :class:`ReadDeadlineWorker` gives each request
:data:`READ_TIMEOUT_S` from the moment a thread takes it up until its body has been read: the
body is read whole before the app runs (at most :data:`BODY_LIMIT`, as a buffering proxy
would). A client past the deadline is cut off, without an answer while its headers are
unfinished, with 408 for an unfinished body, and its socket is shut at once, not gracefully:
gunicorn's graceful close lingers up to 2 s on the worker's main loop reading whatever the
client still sends.

Why one request in the app at a time (:data:`APP_CONCURRENCY`): the threads are there to wait
for clients, not to run the app concurrently. Run concurrently, webhooks in one process queue
on SQLite's write lock, whose busy handler sleeps in steps up to 100 ms (the plain gthread
p99 above); one at a time, the app runs exactly as it did under the sync worker. As there, a
request stuck in the app (a query that never returns) gets its worker killed and replaced
once ``timeout`` has passed (:meth:`ReadDeadlineWorker.notify`), instead of holding the slot.

Why as many connections as threads: a gthread worker otherwise accepts up to 1000 and queues
them for its threads, and one worker took nearly every connection (measured: 64 threads busy
in one, the other idle). Capped, a worker whose threads are all held stops accepting and the
next connection goes to the other. That leaves no connection for keep-alive, hence
``keepalive = 0``. The webhook is answered while fewer than 2 x 64 slow clients are open at
once; beyond that, or in production at all, put a buffering reverse proxy in front (README,
"Running across machines"), which absorbs slow clients before they reach gunicorn.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time

from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import ThreadWorker

workers = 2
worker_class = "bot.web.gunicorn_conf.ReadDeadlineWorker"
threads = 64  # per worker: each slow client holds one for at most READ_TIMEOUT_S
# No more connections than threads: a worker whose threads are all held stops accepting, and
# the next connection goes to a worker with a free thread instead of queueing behind slow ones
# (one worker otherwise takes nearly every connection). It leaves none for keep-alive.
worker_connections = threads
keepalive = 0  # no idle connections kept; one that sends nothing for 5 s is closed
timeout = 30  # heartbeat: a worker silent this long is killed and replaced
graceful_timeout = 10  # on SIGTERM, seconds for in-flight requests to finish
# gunicorn 25+ opens a control socket at one path per user (~/.gunicorn/gunicorn.ctl): every
# instance on the machine would take it from the others. ``up`` supervises its own server.
control_socket_disable = True

READ_TIMEOUT_S = 10.0  # request line + headers + body, from the moment a thread takes it up
BODY_LIMIT = 1024 * 1024  # larger bodies are refused (413) unread; the app's own limit is lower
APP_CONCURRENCY = 1  # requests inside the app at once, per worker: as under the sync worker
STUCK_S = 1.0  # a request in the app this long stops the heartbeat: killed after ``timeout``


class ReadDeadlineExpired(NoMoreData):
    """The client did not send its request in time; handled by gunicorn as a client gone."""


class DeadlineSocket(socket.socket):
    """A client socket whose reads fail once ``deadline`` (a ``time.monotonic()``) has passed.

    The deadline is absolute, so a client trickling one byte at a time cannot stretch it the
    way it stretches a per-read timeout.
    """

    deadline: float | None = None
    dropped: str | None = None  # why the connection must be closed at once, if it must

    @classmethod
    def adopt(cls, sock: socket.socket) -> DeadlineSocket:
        timeout = sock.gettimeout()
        adopted = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        adopted.settimeout(timeout)
        return adopted

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self.deadline is None:
            return super().recv(bufsize, flags)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self._expired()
        previous = self.gettimeout()
        if previous is not None and previous <= left:
            return super().recv(bufsize, flags)  # the caller's own, shorter timeout
        self.settimeout(left)
        try:
            return super().recv(bufsize, flags)
        except TimeoutError:
            raise self._expired() from None
        finally:
            self.settimeout(previous)

    def _expired(self) -> ReadDeadlineExpired:
        self.dropped = f"request not read within {READ_TIMEOUT_S:g} s"
        return ReadDeadlineExpired()


def _refuse(start_response, status: str) -> list[bytes]:
    start_response(status, [("Content-Length", "0"), ("Connection", "close")])
    return [b""]


class BufferedBody:
    """WSGI middleware: read the whole request body under the read deadline, then call the app,
    at most APP_CONCURRENCY requests at a time (module docstring)."""

    def __init__(self, app) -> None:
        self.app = app
        self.slots = threading.BoundedSemaphore(APP_CONCURRENCY)
        self._lock = threading.Lock()
        self._entered: dict[int, float] = {}  # thread → when its request entered the app

    def longest_call_s(self) -> float:
        """How long the request longest in the app has been there (0 when none is)."""
        with self._lock:
            oldest = min(self._entered.values(), default=None)
        return 0.0 if oldest is None else time.monotonic() - oldest

    def __call__(self, environ, start_response):
        sock = environ.get("gunicorn.socket")
        if not isinstance(sock, DeadlineSocket):
            return self.app(environ, start_response)
        try:
            body = _read_body(environ)
        except ReadDeadlineExpired:
            return _refuse(start_response, "408 Request Timeout")
        except NoMoreData:
            sock.dropped = "the client closed before its body was complete"
            return _refuse(start_response, "400 Bad Request")
        finally:
            sock.deadline = None
        if body is None:
            sock.dropped = f"body over {BODY_LIMIT} bytes"  # still on the wire: do not read it
            return _refuse(start_response, "413 Content Too Large")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        with self.slots:
            with self._lock:
                self._entered[threading.get_ident()] = time.monotonic()
            try:
                return self.app(environ, start_response)
            finally:
                with self._lock:
                    del self._entered[threading.get_ident()]


def _read_body(environ) -> bytes | None:
    """The body (b"" without one), or None when it is over :data:`BODY_LIMIT`; raises
    :class:`NoMoreData` if the client ends it early, :class:`ReadDeadlineExpired` if too late."""
    length = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if length.isdigit():
        if int(length) > BODY_LIMIT:
            return None
        body = stream.read(int(length)) if int(length) else b""
        if len(body) < int(length):
            raise NoMoreData(body[-16:])
        return body
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return b""
    body = stream.read(BODY_LIMIT + 1)
    return None if len(body) > BODY_LIMIT else body


class ReadDeadlineWorker(ThreadWorker):
    """gunicorn's gthread worker, with a deadline on reading each request (module docstring)."""

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = BufferedBody(self.wsgi)

    def notify(self) -> None:
        """The heartbeat, withheld while a request has been in the app over STUCK_S: the arbiter
        then kills this worker ``timeout`` seconds later, as it kills a sync worker stuck in a
        request. Without it a hung request would hold the app slot for good."""
        app = getattr(self, "wsgi", None)
        if isinstance(app, BufferedBody) and app.longest_call_s() > STUCK_S:
            return
        super().notify()

    def handle(self, conn):
        if not isinstance(conn.sock, DeadlineSocket):
            conn.sock = DeadlineSocket.adopt(conn.sock)
        sock = conn.sock
        sock.deadline = time.monotonic() + READ_TIMEOUT_S
        try:
            keep = super().handle(conn)
        finally:
            sock.deadline = None
        if sock.dropped is None:
            return keep
        peer = ":".join(map(str, conn.client)) if isinstance(conn.client, tuple) else conn.client
        self.log.info("closed the connection from %s: %s", peer, sock.dropped)
        sock.dropped = None
        # Shut now, in this thread: the main loop's graceful close would otherwise linger on
        # it for up to 2 s, reading whatever the client still trickles. It then finds it shut.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        return False
