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


def _readme_tree() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The folders", 1)[1]
    block = next(b for b in re.findall(r"```\n(.*?)```", section, re.S) if "bot/cli/" in b)
    return re.findall(r"^(bot/[\w.]+/?|ledger/|worker\.py|tests/|bench/)", block, re.M)


def test_readme_tree_names_every_part_of_bot_and_nothing_else():
    named = {entry.rstrip("/") for entry in _readme_tree() if entry.startswith("bot/")}
    bot = ROOT / "bot"
    actual = {
        f"bot/{p.name}"
        for p in bot.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.name != "__init__.py")
    }
    assert named == actual


def test_readme_tree_lists_the_layers_in_the_order_the_contract_enforces():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [layers] = [
        c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"
    ]
    contract = [name.strip().replace(".", "/") for layer in layers for name in layer.split("|")]
    tree = [entry.rstrip("/").removesuffix(".py") for entry in _readme_tree()]
    in_tree = [entry for entry in tree if entry in contract]
    rank = {
        name.strip().replace(".", "/"): index
        for index, layer in enumerate(layers)
        for name in layer.split("|")
    }
    assert set(in_tree) == set(contract)
    assert [rank[e] for e in in_tree] == sorted(rank[e] for e in in_tree), in_tree


def test_readme_layer_line_is_the_contract():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [layers] = [
        c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"
    ]
    expected = " → ".join(
        " | ".join(name.strip().removeprefix("bot.") for name in layer.split("|"))
        for layer in layers
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The folders", 1)[1]
    line = re.search(r"```\n(cli → .*?)\n```", section).group(1)
    assert line == expected + " → ledger"


def test_readme_stand_alone_verifier_checks_served_proofs(services, client, tmp_path):
    """The README's verifier (stdlib + cryptography, under 100 lines), run as a script on proofs
    the bot serves: real ones verify, forged ones are refused."""
    from bot.worker.checkpointer import checkpoint_once
    from ledger.tlog.checkpoint import TlogProof
    from ledger.tlog.notes import generate_signing_key, vkey_of

    load_demo(services)
    checkpoint_once(services)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r'```python\n("""verify_receipt\.py.*?)```', readme, re.S).group(1)
    assert len(code.splitlines()) < 100 and "import requests" not in code
    assert {m for m in re.findall(r"^(?:from|import) (\w+)", code, re.M)} <= {
        "base64",
        "hashlib",
        "json",
        "sys",
        "cryptography",
    }
    script = tmp_path / "verify_receipt.py"
    script.write_text(code)
    vkey = services.log_key.vkey

    def run(proof_text: str, key: str = vkey):
        path = tmp_path / "proof"
        path.write_text(proof_text)
        return subprocess.run(
            [sys.executable, "-O", str(script), str(path), key], capture_output=True, text=True
        )

    with services.sessions() as session:
        size = session.query(LedgerEntry).count()
    for seq in (1, size // 2, size):
        text = client.get(f"/api/ledger/{seq}/proof").get_data(as_text=True)
        result = run(text)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"ok: entry #{seq} ") and f"size {size}" in result.stdout
    proof = TlogProof.parse(text)
    forged = [
        TlogProof(proof.index, proof.hashes, proof.checkpoint, proof.extra + b" ").text(),
        TlogProof(proof.index - 1, proof.hashes, proof.checkpoint, proof.extra).text(),
        text.replace(f"\n{size}\n", f"\n{size + 1}\n"),
    ]
    for forgery in forged:
        assert "NOT VERIFIED" in run(forgery).stderr
    other = vkey_of(generate_signing_key(services.log_key.signer.name))
    assert run(text, other).returncode != 0
