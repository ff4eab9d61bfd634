"""A newcomer's first commands: folders made, one-line errors, help that explains, quiet logs."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys

from click.testing import CliRunner

from bot.cli import cli
from bot.ops.logs import TextFormatter, configure
from tests.test_helpers import ROOT


def run(tmp_path, *args, instance=None, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environ.update({"INSTANCE_PATH": str(instance or tmp_path / "instance"), **env})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=60,
    )


def test_db_upgrade_makes_the_instance_folder(tmp_path):
    folder = tmp_path / "new" / "place"  # none of it exists yet
    done = run(tmp_path, "db", "upgrade", instance=folder)
    assert done.returncode == 0, done.stderr
    assert (folder / "ledgerbot.sqlite3").exists()


def test_errors_are_one_line_saying_what_to_do(tmp_path):
    unmigrated = run(tmp_path, "import-article", str(ROOT / "tests/fixtures/bpc-157-article.txt"))
    assert unmigrated.returncode == 1
    assert unmigrated.stderr.strip().count("\n") == 0, unmigrated.stderr
    assert (
        "run `ledgerbot db upgrade`" in unmigrated.stderr and "Traceback" not in unmigrated.stderr
    )
    missing = run(tmp_path, "verify", DATABASE_URL=f"sqlite:///{tmp_path}/no/such/dir/db.sqlite3")
    assert missing.returncode == 1 and missing.stderr.strip().count("\n") == 0, missing.stderr
    assert "check DATABASE_URL" in missing.stderr
    down = run(tmp_path, "verify", DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert down.stderr.strip().count("\n") == 0, down.stderr


def test_moderators_help_explains_itself():
    runner = CliRunner()
    group = runner.invoke(cli, ["moderators", "--help"]).output
    assert "approve E12" in group and "PUBLIC_URL/moderate" in group
    assert "ledgerbot moderators add +15551234567" in group
    for command in ("add", "remove", "list"):
        text = runner.invoke(cli, ["moderators", command, "--help"]).output
        assert len(text.split("\n\n")[1].split()) >= 5, (command, text)


def test_logs_are_one_line_per_record_and_rq_is_quiet():
    stream = io.StringIO()
    handler = configure(json=False, stream=stream, level=logging.INFO)
    try:
        logging.getLogger("bot.worker.inbound").info("body %s", "line one\nline two\r\nthree")
        logging.getLogger("rq.worker").info("Job OK (inbound-SM…)")
        assert logging.getLogger("rq.worker").getEffectiveLevel() >= logging.WARNING
    finally:
        logging.getLogger().removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith("body line one\\nline two\\r\\nthree")
    record = logging.LogRecord("x", logging.INFO, "f", 1, "plain", None, None)
    assert "\n" not in TextFormatter().format(record)
