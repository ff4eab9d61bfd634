"""Asking witnesses to cosign our checkpoints (C2SP tlog-witness ``add-checkpoint``).

The log, not the witness, does the work of proving: each request carries a consistency proof
from the size the witness last cosigned. We remember that size per witness (in memory, and
learned again from a 409 after a restart). A witness that is down, slow or refuses only costs
a log line: submissions run on their own thread with short timeouts, never on the append path.
Cosignatures are kept only when they verify against a key in WITNESS_KEYS (the spec: ignore
cosignatures from unknown keys).
"""

from __future__ import annotations

import base64
import logging
import re
import time
from dataclasses import dataclass, field

import requests

from ledger import checkpoints, tree
from ledger.db import transaction
from ledger.tlog.notes import NoteError, Verifier, parse_note

log = logging.getLogger(__name__)

TIMEOUT_S = (2.0, 5.0)
DEADLINE_S = 10.0  # a whole answer, however slowly it trickles in
MAX_BODY = 64 * 1024
_SIZE_BODY = re.compile(r"(0|[1-9][0-9]{0,18})\n?")


@dataclass(frozen=True)
class Answer:
    """A witness's reply, read whole but never past MAX_BODY or DEADLINE_S."""

    status_code: int
    text: str


@dataclass
class WitnessClient:
    """One log's view of its witnesses: where they are and what each has cosigned."""

    urls: tuple[str, ...]
    verifiers: list[Verifier]
    cosigned: dict[str, int] = field(default_factory=dict)
    http: requests.Session = field(default_factory=requests.Session)

    def submit_latest(self, services) -> int:
        """Offer the latest checkpoint to every witness; how many new cosignatures were kept."""
        with services.read_sessions() as session:
            row = checkpoints.latest(session.connection())
        if row is None:
            return 0
        kept = 0
        for url in self.urls:
            try:
                kept += self._submit(services, url, row)
            except (requests.RequestException, ValueError) as exc:
                log.warning("witness %s: %s", url, exc)
        return kept

    def _submit(self, services, url: str, row) -> int:
        if self.cosigned.get(url, -1) >= row.size:
            return 0
        old = self.cosigned.get(url, 0)
        for _attempt in range(2):  # a 409 tells us the size the witness has: try once more
            response = self._post(services, url, old, row)
            if response.status_code == 409:
                match = _SIZE_BODY.fullmatch(response.text)
                if match is None:
                    raise ValueError(f"409 without a tree size: {response.text[:40]!r}")
                old = int(match[1])
                if old > row.size:
                    log.error("witness %s has size %d, beyond our %d", url, old, row.size)
                    return 0
                continue
            break
        if response.status_code != 200:
            # 422: the witness holds a checkpoint of ours this one is not consistent with —
            # someone was shown a different history. That is for an operator, now.
            level = logging.ERROR if response.status_code == 422 else logging.WARNING
            log.log(
                level,
                "witness %s refused size %d: %s %s",
                url,
                row.size,
                response.status_code,
                response.text[:200].strip(),
            )
            return 0
        self.cosigned[url] = row.size
        return self._keep(services, url, row, response.text)

    def _post(self, services, url: str, old: int, row) -> Answer:
        proof: list[bytes] = []
        if 0 < old < row.size:
            with services.read_sessions() as session:
                proof = tree.consistency(session.connection(), old, row.size)
        lines = [f"old {old}"] + [base64.b64encode(h).decode() for h in proof]
        body = "\n".join(lines) + "\n\n" + row.note
        deadline = time.monotonic() + DEADLINE_S
        with self.http.post(
            f"{url}/add-checkpoint",
            data=body.encode(),
            timeout=TIMEOUT_S,
            headers={"Content-Type": "text/plain; charset=utf-8"},
            stream=True,  # read below within MAX_BODY and DEADLINE_S: a witness is untrusted
        ) as response:
            content = b""
            for chunk in response.iter_content(8192):
                content += chunk
                if len(content) > MAX_BODY:
                    raise ValueError("response too large")
                if time.monotonic() > deadline:
                    raise ValueError(f"response not read within {DEADLINE_S:g} s")
        return Answer(response.status_code, content.decode("utf-8", errors="replace"))

    def _keep(self, services, url: str, row, text: str) -> int:
        """Store the response's lines that verify as cosignatures by a trusted witness key."""
        body = parse_note(row.note)[0]  # the checkpoint, exactly as signed
        kept = 0
        try:
            _text, signatures = parse_note(body + "\n" + text)
        except NoteError as exc:
            log.warning("witness response is not signature lines: %s", exc)
            return 0
        verified = 0
        with transaction(services.sessions) as session:
            for signature in signatures:
                for verifier in self.verifiers:
                    if (verifier.name, verifier.key_id) != (signature.name, signature.key_id):
                        continue
                    if verifier.verify(body, signature.key_id + signature.raw):
                        verified += 1
                        key = f"{verifier.name}+{verifier.key_id.hex()}"
                        kept += checkpoints.add_cosignature(session, row.size, key, signature.line)
        if not verified:  # it answered 200, but not with a key in WITNESS_KEYS: a config error?
            log.warning("witness %s: no cosignature of size %d by a known key", url, row.size)
        return kept
