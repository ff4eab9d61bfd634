"""The README's promises, checked: the verification snippet works on a real ledger."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from ledger.chain import public_entry
from ledger.models import LedgerEntry
from tests.test_helpers import ROOT, load_demo


def test_readme_verification_snippet_verifies_an_exported_ledger(services, tmp_path):
    load_demo(services)
    with services.sessions() as session:
        entries = [public_entry(e) for e in session.query(LedgerEntry).order_by(LedgerEntry.seq)]
    (tmp_path / "ledger.json").write_text(json.dumps(entries, ensure_ascii=False))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(import hashlib.*?)```", readme, re.S).group(1)
    result = subprocess.run(
        [sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ok {len(entries)}"

    entries[3]["payload"]["title"] = "tampered"
    (tmp_path / "ledger.json").write_text(json.dumps(entries, ensure_ascii=False))
    result = subprocess.run(
        [sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode != 0 and "AssertionError: 4" in result.stderr
