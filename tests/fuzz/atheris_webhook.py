"""Coverage-guided fuzzing of the Twilio webhooks with atheris (not collected by pytest).

Each input becomes one POST to /twilio/messages or /twilio/status through the Flask test
client — either raw bytes under a chosen content type, or a form of fields — correctly signed
or not. Any exception (PROPAGATE_EXCEPTIONS is on, so a would-be 500 surfaces as its own
traceback), or a status outside the expected set, is a crash that atheris reports and saves.
An accepted message is then handled by the worker's job too (``process_inbound``).

Inputs that hit a bug already pinned by a strict xfail are skipped, using the same predicates
as tests/bot/test_fuzz_webhook.py; pass ``--include-known-bugs`` to fuzz those as well.

    pip install atheris            # or: pip install --target /tmp/atheris-pkg atheris
    python tests/fuzz/atheris_webhook.py -max_total_time=120 -max_len=4096 -len_control=0 [corpus]
    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python tests/fuzz/atheris_webhook.py

REDIS_URL is used when set, otherwise a private redis-server is started (and dies with us).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

PR_SET_PDEATHSIG = 1
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

try:
    import atheris
except ImportError:  # pragma: no cover - tooling only
    sys.exit("atheris is not installed: pip install atheris")

INCLUDE_KNOWN_BUGS = "--include-known-bugs" in sys.argv
if INCLUDE_KNOWN_BUGS:
    sys.argv.remove("--include-known-bugs")

with atheris.instrument_imports(include=["bot", "ledger"]):
    import bot.messaging.models  # noqa: F401  (register all tables)
    from bot.messaging.models import InboundMessage, OutboundMessage
    from bot.ops import redis_embedded
    from bot.ops.services import Services
    from bot.web.app import create_app
    from bot.worker import inbound as jobs
    from ledger.db import make_engine, transaction
    from ledger.migrate import upgrade

# After instrumentation, so that the bot and ledger modules these pull in are instrumented.
from tests.bot.test_fuzz_webhook import (  # noqa: E402
    CONTENT_TYPES,
    INBOUND_FIELDS,
    INBOUND_OK,
    KNOWN_OUTBOUND_SID,
    MESSAGES,
    STATUS,
    STATUS_FIELDS,
    STATUS_OK,
    known_inbound_bug,
    known_status_bug,
    parsed_form,
    reaches_storage,
)
from tests.support.databases import PostgresDatabases  # noqa: E402
from tests.support.settings import BOT_NUMBER, WHATSAPP_NUMBER, make_settings, sign  # noqa: E402
from tests.test_helpers import load_demo  # noqa: E402


def _start_redis(folder: Path) -> str:
    """A throwaway redis-server that dies with this process (libFuzzer exits without atexit)."""
    libc = ctypes.CDLL(None, use_errno=True)
    port = redis_embedded.free_port()
    subprocess.Popen(
        [
            redis_embedded.redis_server_binary(),
            *("--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder)),
            *("--save", "", "--appendonly", "no"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM),
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return url
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _services() -> Services:
    folder = Path(tempfile.mkdtemp(prefix="atheris-webhook-"))
    if os.environ.get("TEST_DATABASE_URL"):
        database_url = PostgresDatabases(os.environ["TEST_DATABASE_URL"]).fresh_url(folder)
    else:
        database_url = "sqlite:///" + str(folder / "fuzz.sqlite3")
        engine = make_engine(database_url)
        upgrade(engine)
        engine.dispose()
    redis_url = os.environ.get("REDIS_URL") or _start_redis(folder)
    settings = make_settings(folder, database_url, redis_url, "http://127.0.0.1:9")
    services = Services(settings)
    with transaction(services.sessions) as session:
        session.add(
            OutboundMessage(
                key="atheris",
                channel="sms",
                to_number="+15551230002",
                body="hi",
                status="sent",
                twilio_sid=KNOWN_OUTBOUND_SID,
            )
        )
    load_demo(services)
    return services


SERVICES = _services()
BACKEND = SERVICES.engine.dialect.name
APP = create_app(services=SERVICES)
APP.config.update(PROPAGATE_EXCEPTIONS=True)
logging.disable(logging.WARNING)  # every refused signature logs a warning
CLIENT = APP.test_client()
MAX_CONTENT = 256 * 1024
_counter = iter(range(10**12))


BODY_PREFIXES = ["", "semax|", "ingest semax|q:1|", "ingest q:1|", "|", "approve E1 ", "pending "]
SENDERS = ["+15551230002", "+15550000001", "whatsapp:+447700900123"]  # the second moderates


def _text(fdp: atheris.FuzzedDataProvider, most: int) -> str:
    return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, most))


ACCOUNT = "AC" + "1" * 32  # the test account: the webhook refuses any other


def _form(fdp: atheris.FuzzedDataProvider, path: str) -> MultiDict:
    fields = INBOUND_FIELDS if path == MESSAGES else STATUS_FIELDS
    base: dict[str, str] = {}
    if fdp.ConsumeBool():  # start from a real message so that most inputs get past validation
        if path == MESSAGES:
            sender = SENDERS[fdp.ConsumeIntInRange(0, len(SENDERS) - 1)]
            base = {
                "MessageSid": f"SM{next(_counter):032x}",
                "AccountSid": ACCOUNT,
                "From": sender,
                "To": "whatsapp:" + WHATSAPP_NUMBER if sender.startswith("w") else BOT_NUMBER,
                "Body": BODY_PREFIXES[fdp.ConsumeIntInRange(0, len(BODY_PREFIXES) - 1)],
            }
        else:
            base = {
                "MessageSid": KNOWN_OUTBOUND_SID,
                "MessageStatus": "delivered",
                "AccountSid": ACCOUNT,
            }
        for key in base:  # any field may still be replaced or extended
            choice = fdp.ConsumeIntInRange(0, 3)
            if choice == 1:
                base[key] = _text(fdp, 80)
            elif choice == 2:
                base[key] += _text(fdp, 2048)
    extras = []
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        if fdp.ConsumeBool():
            key = fields[fdp.ConsumeIntInRange(0, len(fields) - 1)]
        else:
            key = _text(fdp, 16)
        extras.append((key, _text(fdp, 512)))
    pairs = list(base.items())
    # Repeated keys: the first value is the one the app reads, so extras may come first.
    return MultiDict(extras + pairs if fdp.ConsumeBool() else pairs + extras)


def _stored(sid: str | None) -> InboundMessage | None:
    if sid is None:
        return None
    with SERVICES.sessions() as session:
        return session.scalar(select(InboundMessage).where(InboundMessage.message_sid == sid))


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    path = MESSAGES if fdp.ConsumeIntInRange(0, 2) else STATUS
    signed = fdp.ConsumeIntInRange(0, 3) != 0
    if fdp.ConsumeBool():
        content_type = CONTENT_TYPES[fdp.ConsumeIntInRange(0, len(CONTENT_TYPES) - 1)]
        raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
        form = parsed_form(path, raw, content_type)
        kwargs = {"data": raw, "content_type": content_type or None}
    else:
        form = _form(fdp, path)
        kwargs = {"data": form}
    if not INCLUDE_KNOWN_BUGS:
        bug = known_inbound_bug(form, BACKEND) if path == MESSAGES else None
        if bug or (path == STATUS and known_status_bug(form, BACKEND)):
            return
    headers = {"X-Twilio-Signature": sign(form, path)} if signed else {}
    before = _stored(reaches_storage(form)) if path == MESSAGES else None

    response = CLIENT.post(path, headers=headers, **kwargs)

    allowed = INBOUND_OK if path == MESSAGES else STATUS_OK
    if response.status_code not in allowed:
        raise AssertionError(f"{path} answered {response.status_code} to {form!r}")
    if not signed and response.status_code not in (403, 413):
        raise AssertionError(f"unsigned {path} answered {response.status_code} to {form!r}")
    if path == MESSAGES and response.status_code == 200 and before is None:
        row = _stored(reaches_storage(form))
        if row is None or row.body != form.get("Body", ""):
            raise AssertionError(f"Body did not round-trip: {form!r} -> {row and row.body!r}")
        jobs.process_inbound(row.id)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
