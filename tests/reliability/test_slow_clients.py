"""Slow clients against ``ledgerbot up`` as it ships: nothing in front of its gunicorn.

An attacker holds 50 connections open for 60 s, each with a request it never finishes: half
stop in the middle of their headers, half declare a body and trickle it a byte a second; any
connection the server drops is opened again at once, so 50 are open the whole time. Meanwhile
a correctly signed webhook (Twilio's signature over PUBLIC_URL, with the instance's dev auth
token) goes out every 2 s, and each must be answered 200 within 1 s. Under the former
configuration (2 sync workers) every webhook timed out until gunicorn killed its stuck workers.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field

import pytest

from bot.catalogue.demo import DEMO_SLUG
from bot.cli.text import signed_post
from bot.ops.redis_embedded import free_port
from tests.support.processes import UpProcess, up_env, wait_http
from tests.test_helpers import ROOT

SLOW_CONNECTIONS = 50
HOLD_S = 60.0
WEBHOOK_EVERY_S = 2.0
WEBHOOK_WITHIN_S = 1.0
MAX_OPENS = 2_000  # the attacker's own bound, whatever the server does
HEAD = b"POST /twilio/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
BODY_HEAD = HEAD + (
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4096\r\n\r\nBody="
)


@dataclass
class SlowClients:
    """``count`` connections that never finish a request, kept open for ``hold_s``."""

    port: int
    count: int
    hold_s: float
    opened: int = 0
    dropped: int = 0  # closed by the server
    answers: list[bytes] = field(default_factory=list)  # first bytes of what it answered
    stop: threading.Event = field(default_factory=threading.Event)

    def _open(self, index: int) -> socket.socket | None:
        if self.opened >= MAX_OPENS:
            return None
        self.opened += 1
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        sock.sendall(HEAD + b"X-Slow: " if index % 2 == 0 else BODY_HEAD)
        sock.setblocking(False)
        return sock

    def _poke(self, sock: socket.socket) -> bool:
        """One more byte; False when the server has closed the connection."""
        try:
            data = sock.recv(4096)
            if not data:
                return False
            self.answers.append(data[:16])
        except BlockingIOError:
            pass
        try:
            sock.send(b"a")
        except OSError:
            return False
        return True

    def run(self) -> None:
        socks = [self._open(i) for i in range(self.count)]
        deadline = time.monotonic() + self.hold_s
        try:
            while not self.stop.wait(1.0) and time.monotonic() < deadline:
                for index, sock in enumerate(socks):
                    if sock is not None and not self._poke(sock):
                        sock.close()
                        self.dropped += 1
                        socks[index] = self._reopen(index)
        finally:
            for sock in socks:
                if sock is not None:
                    sock.close()

    def _reopen(self, index: int) -> socket.socket | None:
        try:
            return self._open(index)
        except OSError:
            return None


def webhook(up: UpProcess, token: str, n: int) -> tuple[int | str, float]:
    """A fresh, correctly signed inbound SMS; its status (or error) and seconds to the answer."""
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "0" * 32,
        "From": f"+1555200{n:04d}",
        "To": "+15005550006",
        "Body": f"{DEMO_SLUG}|does it raise BDNF in people?",
        "NumMedia": "0",
    }
    started = time.perf_counter()
    try:
        status: int | str = signed_post(up.url + "/twilio/messages", params, token)
    except OSError as exc:  # signed_post gives up after 10 s
        status = type(exc).__name__
    return status, time.perf_counter() - started


@pytest.mark.slow
def test_fifty_slow_clients_for_a_minute_leave_the_webhook_answered(tmp_path):
    port = free_port()
    up = UpProcess(port, up_env(tmp_path / "instance"))
    attack = SlowClients(port, SLOW_CONNECTIONS, HOLD_S)
    attacker = threading.Thread(target=attack.run, daemon=True)
    try:
        wait_http(up.url + "/healthz", up.process, timeout=60)
        token = (tmp_path / "instance" / "dev_auth_token").read_text().strip()
        assert webhook(up, token, 0)[0] == 200  # warm: the first request loads the app's parts
        attacker.start()
        time.sleep(3)  # every slow connection is open and has sent its partial request
        answers = []
        end = time.monotonic() + HOLD_S - 6
        while time.monotonic() < end:
            answers.append(webhook(up, token, len(answers) + 1))
            time.sleep(WEBHOOK_EVERY_S)
        attack.stop.set()
        attacker.join(timeout=10)
    finally:
        attack.stop.set()
        up.stop()
    late = [(status, round(seconds, 3)) for status, seconds in answers]
    assert all(s == 200 and t < WEBHOOK_WITHIN_S for s, t in answers), late
    assert len(answers) >= 20
    assert attack.opened >= SLOW_CONNECTIONS
    # The read deadline cut them off (and they were opened again): none held a thread for 60 s.
    assert attack.dropped >= SLOW_CONNECTIONS, (attack.opened, attack.dropped)
    assert not any(a.startswith(b"HTTP/1.1 2") for a in attack.answers)
    assert "closed the connection from" in up.output
    assert "stopped" in up.output


@pytest.mark.slow
def test_a_request_stuck_in_the_app_gets_its_worker_replaced():
    """One request at a time in the app (as under sync workers) must not mean one hung request
    holds it for good: the heartbeat stops, and gunicorn replaces the worker after --timeout."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:bot.web.gunicorn_conf"]
    argv += ["--workers", "1", "--timeout", "3", "--bind", f"127.0.0.1:{port}"]
    server = subprocess.Popen(
        [*argv, "tests.support.processes:stuck_app"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_http(url + "/", server)
        started = time.monotonic()
        with pytest.raises(OSError):  # the connection dies with the worker
            urllib.request.urlopen(url + "/stuck", timeout=30)
        stuck_for = time.monotonic() - started
        wait_http(url + "/", server, timeout=15)  # a new worker answers
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert 3 < stuck_for < 15, stuck_for
    assert "WORKER TIMEOUT" in output, output
