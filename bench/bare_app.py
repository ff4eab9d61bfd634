"""The webhook stage's ceiling: a bare Flask app answering the bot's empty TwiML.

Same gunicorn configuration, same requests, same load as the real webhook; it checks no
signature, stores nothing and queues nothing, so the difference is what the bot's work costs.
"""

from __future__ import annotations

from flask import Flask, Response

from bot.web.webhook import EMPTY_TWIML

app = Flask(__name__)


@app.post("/twilio/messages")
def inbound() -> Response:
    return Response(EMPTY_TWIML, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")
