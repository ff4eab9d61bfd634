"""The one MessageSid shape, used by the webhook's check, RQ job ids and log context."""

from __future__ import annotations

import re

# What RQ allows in a job id; Twilio's SIDs (SM/MM + 32 hex) fit, and the webhook refuses the
# rest. Logs carry only SIDs of this shape too.
SAFE_SID = re.compile(r"[A-Za-z0-9_-]{1,64}")
