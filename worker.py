"""``python worker.py``: one RQ worker (with scheduler and sweeper) on REDIS_URL."""

from bot.cli import cli

if __name__ == "__main__":
    cli(["worker"])
