"""The text sections of the published format: reading their lines into JSON, and back.

Each reader takes the stripped, non-empty lines under one heading and returns that section's
fields; the matching writer turns the fields back into lines, and reading what it wrote gives
the same fields again (the round-trip tests check this on real articles and on random text).
Fields are plain JSON (strings, integers, lists, objects: ledger payloads hold no floats) and
empty ones are left out. Shapes, by section key:

- generic (framing, what, how, why_take, unknowns, limits): ``paragraphs`` (lines before the
  first bullet), ``lead`` (the last of those, when it ends with ":" and bullets follow, e.g.
  "Step logic:"), ``items`` (bullet texts), ``after`` (other lines after the first bullet).
- ``topic``: ``text`` (after "This topic:"), then the generic fields of the lines after it.
- ``logic``: generic, its items ``{"if", "then"}`` for "IF … THEN …" bullets, else ``{"text"}``.
- ``how_many``: generic, its items ``{"count", "text"}`` for "68 anecdote source(s)" bullets,
  else ``{"text"}``; ``logic`` is the first non-empty "Logic:" line after the bullets.
- ``inventory``: ``paragraphs``, ``items`` ``{"label", "count"}`` for every "label: N" line
  (bulleted or not) or ``{"text"}`` for other bullets, ``after``.
- ``confidence``: ``value``, ``scale`` and ``label`` from "0.95 / 1.00 — label" exactly as
  printed (strings, not numbers), or ``text`` for another shape; ``formula``; ``paragraphs``.
- ``footer``: ``notice`` ("Not medical advice…"), ``ledger_size``, ``ranked_more``,
  ``low_confidence``, ``suggested_prompts`` (integers), ``texting`` (the "Text the build…"
  line) and ``lines`` (anything else, in order).

Every pattern is a literal plus single character classes, so reading stays linear.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Section = dict[str, Any]

_COUNT = re.compile(r"[0-9]{1,18}")
_COUNTED = re.compile(r"([0-9]{1,18}) (.+)")
_CONFIDENCE = re.compile(r"([0-9][0-9.]{0,11}) / ([0-9][0-9.]{0,11})(?: — (.+))?")
# Footer count lines: (field, pattern on the lowercased line, how the writer prints it).
_FOOTER_COUNTS = (
    ("ledger_size", "evidence ledger {n}(?: · .*)?", "Evidence ledger {} · tier-ranked · API"),
    ("ranked_more", "{n} more ranked claims?", "{} more ranked claims"),
    ("low_confidence", "low-confidence / auto-generated {n}", "Low-confidence / auto-generated {}"),
    (
        "suggested_prompts",
        "ask this article · {n} suggested prompts?",
        "Ask this article · {} suggested prompts",
    ),
)
_FOOTER_PATTERNS = {
    name: re.compile(pattern.replace("{n}", "([0-9]{1,18})")) for name, pattern, _ in _FOOTER_COUNTS
}
_FOOTER_LINES = (("notice", "not medical advice"), ("texting", "text the build"))


def compact(**fields: Any) -> Section:
    """Drop empty fields, so a section's JSON holds only what the page had."""
    return {k: v for k, v in fields.items() if not (v is None or v == "" or v == [])}


def item_text(line: str) -> str | None:
    """The text of a bullet ("- x", "• x", "* x"), or None when the line is not one."""
    if len(line) > 2 and line[0] in "-•*" and line[1] == " ":
        return line[2:].strip() or None
    return None


def _labelled(line: str, label: str) -> str | None:
    """The non-empty text after ``label:`` at the start of ``line`` (any case), else None."""
    if line.lower().startswith(label + ":"):
        return line.split(":", 1)[1].strip() or None
    return None


def read_generic(lines: list[str], item: Callable[[str], Any] = str) -> Section:
    """Paragraphs, a lead, bullets and what follows them: the shape most sections share."""
    paragraphs: list[str] = []
    items: list[Any] = []
    after: list[str] = []
    for line in lines:
        text = item_text(line)
        if text is not None:
            items.append(item(text))
        else:
            (after if items else paragraphs).append(line)
    lead = paragraphs.pop() if items and paragraphs and paragraphs[-1].endswith(":") else None
    return compact(paragraphs=paragraphs, lead=lead, items=items, after=after)


def write_generic(section: Section, item: Callable[[Any], str] = str) -> list[str]:
    """The lines :func:`read_generic` reads back into the same fields."""
    lines = list(section.get("paragraphs", ()))
    if section.get("lead"):
        lines.append(section["lead"])
    lines += [f"- {item(value)}" for value in section.get("items", ())]
    return lines + list(section.get("after", ()))


def _logic_item(text: str) -> dict[str, str]:
    if text.startswith("IF "):
        condition, sep, consequence = text[3:].partition(" THEN ")
        if sep and condition.strip() and consequence.strip():
            return {"if": condition.strip(), "then": consequence.strip()}
    return {"text": text}


def _write_logic_item(item: dict[str, str]) -> str:
    return f"IF {item['if']} THEN {item['then']}" if "if" in item else item["text"]


def _counted_item(text: str) -> dict[str, Any]:
    match = _COUNTED.fullmatch(text)
    if match and match.group(2).strip():
        return {"count": int(match.group(1)), "text": match.group(2).strip()}
    return {"text": text}


def _write_counted_item(item: dict[str, Any]) -> str:
    return f"{item['count']} {item['text']}" if "count" in item else item["text"]


def _take_labelled(lines: list[str], label: str) -> tuple[str | None, list[str]]:
    """The first non-empty ``label:`` line's text, and the other lines in order."""
    for index, line in enumerate(lines):
        text = _labelled(line, label)
        if text is not None:
            return text, lines[:index] + lines[index + 1 :]
    return None, list(lines)


def read_how_many(lines: list[str]) -> Section:
    section = read_generic(lines, _counted_item)
    logic, after = _take_labelled(section.pop("after", []), "logic")
    return {**section, **compact(logic=logic, after=after)}


def write_how_many(section: Section) -> list[str]:
    lines = write_generic({**section, "after": []}, _write_counted_item)
    if section.get("logic"):
        lines.append(f"Logic: {section['logic']}")
    return lines + list(section.get("after", ()))


def _inventory_count(line: str) -> dict[str, Any] | None:
    label, sep, value = (item_text(line) or line).rpartition(":")
    if sep and label.strip() and _COUNT.fullmatch(value.strip()):
        return {"label": label.strip(), "count": int(value.strip())}
    return None


def read_inventory(lines: list[str]) -> Section:
    paragraphs: list[str] = []
    items: list[dict[str, Any]] = []
    after: list[str] = []
    for line in lines:
        counted = _inventory_count(line)
        text = item_text(line)
        if counted is not None:
            items.append(counted)
        elif text is not None:
            items.append({"text": text})
        else:
            (after if items else paragraphs).append(line)
    return compact(paragraphs=paragraphs, items=items, after=after)


def write_inventory(section: Section) -> list[str]:
    lines = list(section.get("paragraphs", ()))
    for item in section.get("items", ()):
        text = f"{item['label']}: {item['count']}" if "count" in item else item["text"]
        lines.append(f"- {text}")
    return lines + list(section.get("after", ()))


def read_confidence(rest: str, lines: list[str]) -> Section:
    match = _CONFIDENCE.fullmatch(rest)
    if match:
        label = (match.group(3) or "").strip()
        shown = compact(value=match.group(1), scale=match.group(2), label=label)
    else:
        shown = compact(text=rest)
    formula, paragraphs = _take_labelled(lines, "formula")
    return {**shown, **compact(formula=formula, paragraphs=paragraphs)}


def write_confidence(section: Section) -> list[str]:
    if "value" in section:
        rest = f"{section['value']} / {section['scale']}"
        rest += f" — {section['label']}" if section.get("label") else ""
    else:
        rest = section.get("text", "")
    lines = [f"{section['heading']}: {rest}".rstrip()]
    if section.get("formula"):
        lines.append(f"Formula: {section['formula']}")
    return lines + list(section.get("paragraphs", ()))


def _footer_count(lowered: str, fields: Section) -> tuple[str, int] | None:
    for name, pattern in _FOOTER_PATTERNS.items():
        match = pattern.fullmatch(lowered)
        if match and name not in fields:
            return name, int(match.group(1))
    return None


def read_footer(lines: list[str]) -> Section:
    fields: Section = {}
    other: list[str] = []
    for line in lines:
        lowered = line.lower()
        counted = _footer_count(lowered, fields)
        named = next((n for n, start in _FOOTER_LINES if lowered.startswith(start)), None)
        if counted is not None:
            fields[counted[0]] = counted[1]
        elif named is not None and named not in fields:
            fields[named] = line
        else:
            other.append(line)
    return {**fields, **compact(lines=other)}


def write_footer(section: Section) -> list[str]:
    lines = [section["notice"]] if section.get("notice") else []
    lines += [template.format(section[n]) for n, _, template in _FOOTER_COUNTS if n in section]
    if section.get("texting"):
        lines.append(section["texting"])
    return lines + list(section.get("lines", ()))


READERS: dict[str, Callable[[list[str]], Section]] = {
    "logic": lambda lines: read_generic(lines, _logic_item),
    "how_many": read_how_many,
    "inventory": read_inventory,
    "footer": read_footer,
}
WRITERS: dict[str, Callable[[Section], list[str]]] = {
    "logic": lambda section: write_generic(section, _write_logic_item),
    "how_many": write_how_many,
    "inventory": write_inventory,
    "confidence": write_confidence,
    "footer": write_footer,
}


def read_section(key: str, lines: list[str]) -> Section:
    """Fields of a text section (not the confidence line, not the intro; see the parser)."""
    return READERS.get(key, read_generic)(lines)


def write_section(section: Section) -> list[str]:
    return WRITERS.get(section["key"], write_generic)(section)
