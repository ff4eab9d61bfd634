"""Small local HTTP servers for tests: ``LocalServer`` (any WSGI app, in a thread) and
``RecordingServer`` (answers anything, records everything).

``LocalServer`` is what the Twilio stand-in and its media CDN run on. Why not werkzeug's
``run_simple``: tests stop a server and start it again on the same port (an outage that ends),
and stopping must also cut open connections and any answer that is sleeping, so that nothing is
answered after ``stop()`` returns.

``RecordingServer`` is for proving a negative: give the bot a URL on it (say a ``MediaUrl`` on a
host that is not Twilio's) and assert ``recorder.requests == []`` afterwards. It answers 200 to
everything, so a bot that does fetch it gets what it asked for and the test sees the request
instead of an unrelated error.

    with RecordingServer() as recorder:
        url = recorder.url + "/2010-04-01/Accounts/AC…/Messages/MM…/Media/ME…"
        ...
        assert recorder.requests == []

On Linux the whole of 127.0.0.0/8 is loopback, so ``RecordingServer(host="127.0.0.2")`` is a
different host name from the stand-in's 127.0.0.1, not only a different port.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


class _QuietHandler(WSGIRequestHandler):
    """Keeps request logs out of test and benchmark output, and tracks open connections."""

    def setup(self) -> None:
        super().setup()
        self.server.local_connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.local_connections.discard(self.connection)  # type: ignore[attr-defined]
        super().finish()

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        log.debug("local server %s: " + message, type, *args)


class LocalServer:
    """Serves a WSGI app on ``host`` (127.0.0.1) from a daemon thread, one thread per request.

    ``port=0`` picks a free port at the first ``start()``; later starts reuse it, so URLs handed
    out before a ``stop()`` work again after the next ``start()``. ``stopping`` is set while the
    server stops: an app that sleeps should wait on it instead of ``time.sleep``.
    """

    def __init__(
        self, app: WSGIApp, *, host: str = "127.0.0.1", port: int = 0, name: str = "local"
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        self.stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """``http://host:port``, without a trailing slash."""
        if self._server is None:
            raise RuntimeError(f"the {self.name} server is not running")
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        if self._server is not None:
            return self
        self.stopping.clear()
        server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler
        )
        server.local_connections = set()  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_port
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"{self.name}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections, so nothing is answered any more."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self.stopping.set()  # cuts short any sleeping answer
        server.shutdown()
        for conn in list(server.local_connections):  # type: ignore[attr-defined]
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RecordingServer(LocalServer):
    """Answers every request 200 with ``body`` and records it.

    ``requests`` is a snapshot (list of dicts, oldest first) with the keys ``method``, ``path``,
    ``query`` (the raw query string), ``headers`` (a dict), ``authorization`` (the Authorization
    header or None: whether credentials leaked to it), ``body`` (bytes) and ``received_at``.
    """

    def __init__(
        self,
        body: bytes = b"recorded\n",
        content_type: str = "application/octet-stream",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(self._wsgi, host=host, port=port, name="recording")
        self.body = body
        self.content_type = content_type
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        record = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string.decode("latin-1"),
            "headers": dict(request.headers),
            "authorization": request.headers.get("Authorization"),
            "body": request.get_data(),
            "received_at": datetime.now(UTC),
        }
        with self._lock:
            self._requests.append(record)
        response = Response(self.body, status=200)
        response.headers["Content-Type"] = self.content_type
        return response(environ, start_response)
