"""The job decorator: log lines inside a job carry its RQ job id (and MessageSid), and its
duration is recorded in the job-duration histogram."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from rq import get_current_job

from bot.ops import logs, metrics
from bot.ops import services as services_module


def now() -> datetime:
    return datetime.now(UTC)


def observed(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        job = get_current_job()
        job_id = job.id if job is not None else None
        sid = job_id.removeprefix("inbound-") if job_id and job_id.startswith("inbound-") else None
        with (
            logs.context(message_sid=sid, job_id=job_id),
            metrics.job_timer(function.__name__, services_module.current),
        ):
            return function(*args, **kwargs)

    return wrapper
