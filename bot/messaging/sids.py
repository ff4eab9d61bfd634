"""Twilio's SID shapes (its API contract: a two-letter prefix and 32 hex digits), and the
wider shape RQ job ids and log context accept."""

from __future__ import annotations

import re

# What RQ allows in a job id; Twilio's SIDs (SM/MM + 32 hex) fit, and the webhook refuses the
# rest. Logs carry only SIDs of this shape too.
SAFE_SID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# Exactly as Twilio's OpenAPI contract states them.
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
