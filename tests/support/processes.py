"""Run real worker processes with the same configuration as a test's services."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable


def service_env(services, **extra: str) -> dict[str, str]:
    settings = services.settings
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "LEDGERBOT_", "DATABASE_URL", "REDIS_URL", "PUBLIC_URL"))
    }
    env.update(
        DATABASE_URL=settings.database_url,
        REDIS_URL=services.redis_url,
        TWILIO_ACCOUNT_SID=settings.twilio_account_sid or "",
        TWILIO_AUTH_TOKEN=settings.twilio_auth_token or "",
        TWILIO_SMS_FROM=settings.twilio_sms_from or "",
        TWILIO_WHATSAPP_FROM=settings.twilio_whatsapp_from or "",
        TWILIO_API_URL=settings.twilio_api_url,
        TWILIO_TIMEOUT_S=str(settings.twilio_timeout_s),
        PUBLIC_URL=settings.public_url or "",
        SECRET_KEY=settings.secret_key or "",
        QUEUE_NAME=settings.queue_name,
        INSTANCE_PATH=settings.instance_path,
        MODERATOR_NUMBERS=",".join(settings.moderator_numbers),
    )
    env.update(extra)
    return env


def run_worker(services, *, failpoints: str = "", timeout: float = 120) -> int:
    """One burst worker in its own process; its exit code (-9: a failpoint killed it)."""
    env = service_env(services, LEDGERBOT_FAILPOINTS=failpoints)
    completed = subprocess.run(
        [sys.executable, "-m", "bot.cli", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return completed.returncode


def wait_http(
    url: str,
    process: subprocess.Popen | None = None,
    timeout: float = 30.0,
    gone: Callable[[], str | None] | None = None,
) -> None:
    """Until ``url`` answers 200; raises if the server's process exits or ``timeout`` passes.

    ``gone`` says why the server cannot answer any more (None while it still might): the
    benchmarks pass one that reads their child process's log.
    """
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with {process.returncode}")
        reason = gone() if gone is not None else None
        if reason:
            raise RuntimeError(reason)
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")
