"""Old job names (0.1), kept importable for one release: this is 0.2; remove them in 0.3.

RQ stores a job's function as a dotted name. Jobs queued by ledgerbot 0.1 name
``bot.jobs.process_inbound`` and ``bot.jobs.send_outbound``; a worker of this release still
runs them (``tests/worker/test_legacy_job_names.py``), so an upgrade need not drain the queue.
"""

from bot.worker.inbound import process_inbound
from bot.worker.sending import TransientSendError, send_outbound

__all__ = ["TransientSendError", "process_inbound", "send_outbound"]
