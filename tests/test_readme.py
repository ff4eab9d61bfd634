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
