"""The newcomer's path: `ledgerbot up` on nothing but defaults, then `ledgerbot text`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.ops.redis_embedded import find_running, free_port
from tests.support.processes import wait_http
from tests.test_helpers import SEED


def clean_env(tmp_path, **extra) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "REDIS_", "DATABASE_", "TEST_DATABASE", "PUBLIC_URL"))
    }
    env.update(INSTANCE_PATH=str(tmp_path / "instance"), **extra)
    return env


@pytest.mark.slow
def test_up_then_text_gets_a_reply_then_everything_stops(tmp_path):
    port = free_port()
    env = clean_env(tmp_path)
    up = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "up", "--port", str(port), "--web-workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot.cli",
                "text",
                "--from",
                "+15551234567",
                "--url",
                f"http://127.0.0.1:{port}",
                "semax-demo|does it raise BDNF in people?",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "Saved as q:1 on Semax" in result.stdout
        assert "Not medical advice" in result.stdout
        readyz = urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert readyz.status == 200
    finally:
        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=60)
    assert up.returncode == 0, output
    assert "stopped" in output
    assert not (tmp_path / "instance" / "redis.json").exists()  # embedded Redis shut down
    assert find_running(str(tmp_path / "instance")) is None
    # Its URL carries a password: shown by address only, by `up` and by every child.
    assert "started embedded redis-server on 127.0.0.1:" in output
    assert (tmp_path / "instance" / "redis_password").read_text().strip() not in output
    # The data outlives the processes: the ledger still verifies from the files alone.
    verify = subprocess.run(
        [sys.executable, "-m", "bot.cli", "verify"], env=env, capture_output=True, text=True
    )
    assert verify.returncode == 0 and verify.stdout.startswith("ok: 14 entries")


def test_import_article_twice_adds_nothing(tmp_path, database_url):
    runner = CliRunner()
    env = clean_env(tmp_path, DATABASE_URL=database_url)
    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    first = runner.invoke(cli, ["import-article", str(SEED)], env=env)
    assert first.exit_code == 0, first.output
    assert "semax: 102 new ledger entries (55 sources, 46 claims, new article)" in first.output
    second = runner.invoke(cli, ["import-article", str(SEED)], env=env)
    assert "semax: 0 new ledger entries" in second.output
    verify = runner.invoke(cli, ["verify"], env=env)
    assert verify.exit_code == 0 and "ok: 102 entries" in verify.output
