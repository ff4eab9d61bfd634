"""The webhook stage's second ceiling: a bare Flask app doing the webhook's durable work.

Per request: read the form, one INSERT + COMMIT into SQLite with the bot's pragmas (WAL,
synchronous=FULL, busy_timeout, BEGIN IMMEDIATE; stdlib sqlite3, no ORM), then one Redis
pipeline shaped like an RQ enqueue (a hash and a list push), then the same empty TwiML. No
signature check, no shape check, no job object, no metrics, no logging: the difference between
it and the bot is what the bot does on top of the I/O it cannot avoid.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import redis
from flask import Flask, Response, request

from bot.web.webhook import EMPTY_TWIML
from ledger.db import SQLITE_BUSY_TIMEOUT_S

app = Flask(__name__)
_local = threading.local()
_redis = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
PATH = os.environ.get("BENCH_DURABLE_DB", "durable.sqlite3")


def _db() -> sqlite3.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(PATH, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS inbound (id INTEGER PRIMARY KEY, sid TEXT UNIQUE, "
            "sender TEXT, body TEXT, received REAL)"
        )
        _local.conn = conn
    return conn


@app.post("/twilio/messages")
def inbound() -> Response:
    form = request.form
    conn = _db()
    conn.execute("BEGIN IMMEDIATE")
    cursor = conn.execute(
        "INSERT INTO inbound (sid, sender, body, received) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING RETURNING id",
        (form.get("MessageSid"), form.get("From"), form.get("Body"), time.time()),
    )
    row = cursor.fetchone()
    conn.execute("COMMIT")
    if row is not None:
        with _redis.pipeline() as pipe:
            pipe.hset(f"bench:durable:job:{row[0]}", mapping={"id": row[0], "status": "queued"})
            pipe.rpush("bench:durable:queue", row[0])
            pipe.execute()
    return Response(EMPTY_TWIML, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")
