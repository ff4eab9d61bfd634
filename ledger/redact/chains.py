"""Digit chains: groups of digits joined the way people type numbers, and which go.

A chain is split into candidate numbers (``_pick``, judged by ``phones``) ranked so the most
plausible wins and no number is cut out of a tighter one or a quantity; what no reading claims
still goes if it holds enough unexplained digits or follows a cue word (``_leftovers``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ledger.redact.phones import _judge, _valid

# Beyond these (hostile input: a paste of digit soup) chains get only the leftover rule.
_ANALYSED_CHAINS, _ANALYSED_GROUPS = 24, 32
_CHAIN = re.compile(r"\d+(?:(?: ?[-/\\_~·+] ?|\.(?! )|,(?! )| ?\(\+?|\) ?\(?| )\d+(?![^\W_]))*")
_TIGHT = frozenset("-./\\_~·,")  # a number is never cut out of digits joined by these
_CUE = re.compile(
    r"(?:[☎📞📱]|\b(?:tel|tele?phone|phone|mobile|mob|cell(?:phone)?|call|text|whatsapp|wa|sms|fax"
    r"|viber|telegram|callto|facetime|skype))(?: (?:me|us) (?:at|on|via)| (?:at|on))?"
    r"[ :=#./-]{0,3}\+?\(?$",
    re.IGNORECASE,
)


@dataclass
class _Chain:
    """Digit groups joined by what people type inside numbers, as the pickers see them."""

    digits: list[str]
    spans: list[tuple[int, int]]  # in the view
    joins: list[str]  # joins[k] is what comes before group k ("" for the first)
    plus: list[bool]  # a '+' right before the group
    free: list[int]  # digits no quantity explains
    hard_free: list[int]  # digits no year, page range... explains
    weak: list[tuple[int, int]]  # the quantity of the group's first and last digit, or 0

    def cuts(self, a: int, b: int) -> bool:
        """Would taking groups a..b cut a number out of "555-777-6001" or a quantity?"""

        def tight(k: int) -> bool:
            return bool(self.joins[k].strip()) and set(self.joins[k].strip()) <= _TIGHT

        inner = "".join(self.joins[a + 1 : b + 1])
        opened = "(" in self.joins[a] and inner.count(")") == inner.count("(") + 1
        if inner.count("(") != inner.count(")") and not opened:
            return True  # "56789 (95% CI" is not one number
        left = a > 0 and (tight(a) or 0 != self.weak[a][0] == self.weak[a - 1][1])
        right = b + 1 < len(self.digits) and (
            tight(b + 1) or 0 != self.weak[b][1] == self.weak[b + 1][0]
        )
        return left or right

    def rank(self, a: int, b: int, judged: tuple) -> tuple:
        """International, valid, exactly grouped, most unexplained digits, one kind of
        separator, longest, leftmost."""
        kinds = {j.strip() or " " for j in self.joins[a + 1 : b + 1] if not {"(", ")"} & set(j)}
        digits = sum(map(len, self.digits[a : b + 1]))
        free = sum(self.hard_free[a : b + 1])
        intl, valid, exact, _ = judged
        return (intl, intl and valid, exact, free, len(kinds) <= 1, digits, valid, -a)


def _pick(chain: _Chain, cue: bool) -> list[tuple[int, int]]:
    """The phone numbers in a chain as (first, last) group indexes, best first (``rank``); a
    '+' always starts one. A short tail typed like the rest that turns an invalid number into
    a longer one goes too ("07700 900" + " 456")."""
    found, count = {}, len(chain.digits)
    for a in range(1 if cue else count):
        total = 0
        for b in range(a, min(count, a + 8)):
            total += len(chain.digits[b])
            if total > 17 or (b > a and chain.plus[b]):
                break
            if total < 7 or chain.cuts(a, b):
                continue
            free = sum(chain.free[a : b + 1])
            if free < 3 and not chain.plus[a] and not chain.digits[a].startswith("00"):
                continue  # a year range, a date: nothing to judge
            judged = _judge(tuple(chain.digits[a : b + 1]), chain.plus[a])
            trunk = judged and judged[2] and chain.digits[a].startswith("0")
            if judged and (judged[0] or free >= (3 if trunk else 5)):
                found[a, b] = judged
    taken, picked = [False] * count, []
    for a, b in sorted(found, key=lambda ab: chain.rank(*ab, found[ab]), reverse=True):
        if any(taken[a : b + 1]):
            continue
        while (a, b + 1) in found and not found[a, b][0] and len(chain.digits[b + 1]) <= 4:
            same = b > a and chain.joins[b + 1] == chain.joins[b] and chain.hard_free[b + 1]
            same = same and len(chain.digits[b + 1]) == len(chain.digits[b])
            digits = "".join(chain.digits[a : b + 1])
            short = [r for r in found[a, b + 1][3] if not _valid(digits, r)]
            if taken[b + 1] or not same or not short:
                break
            b += 1
        taken[a : b + 1] = [True] * (b - a + 1)
        picked.append((a, b))
    return picked


def _leftovers(chain: _Chain, free: list[int], cue: bool) -> list[tuple[int, int]]:
    """What no phonenumbers rule claimed still goes when it holds 10+ unexplained digits, 8+
    punctuated; after a cue word ("call", "tel:") the first 7 digits go whatever they are. A
    plain space next to an 8+ digit group splits (a list of PMIDs is not one number)."""
    runs: list[list[int]] = []
    for k in free:
        size = [len(chain.digits[i]) for i in (k - 1, k)] if k else [0, 0]
        apart = chain.joins[k] == " " and (max(size) >= 8 or min(size) >= 7)
        if runs and runs[-1][-1] == k - 1 and not apart:
            runs[-1].append(k)
        else:
            runs.append([k])
    chosen = []
    for run in runs:
        if cue and run[0] == 0:  # the number starts right after "call": its first 7 digits
            total, end = 0, len(run) - 1
            for i, k in enumerate(run):
                total += len(chain.digits[k])
                if total >= 7:
                    end = i
                    break
            if total >= 6:
                chosen.append((0, run[end]))
            run = run[end + 1 :]
        while run and not chain.free[run[0]]:
            run.pop(0)
        while run and not chain.free[run[-1]]:
            run.pop()
        count = sum(chain.free[k] for k in run)
        punctuated = any(chain.joins[k] != " " for k in run[1:])
        if run and (count >= 10 or (count >= 8 and punctuated)):
            chosen.append((run[0], run[-1]))
    return chosen


def _widen(view: str, start: int, end: int) -> tuple[int, int]:
    """A '+' and unbalanced brackets right around a number belong to it."""
    if view[max(0, start - 2) : start] == "+ ":
        start -= 2
    elif start and view[start - 1] == "+":
        start -= 1
    inside = view[start:end]
    if start and view[start - 1] == "(" and inside.count(")") > inside.count("("):
        start -= 1
    if view[end : end + 1] == ")" and inside.count("(") > inside.count(")"):
        end += 1
    return start, end


def _chains(view: str, work: str, weak: list[int], in_url: bytearray) -> list[tuple[int, int]]:
    removals = []
    for index, match in enumerate(_CHAIN.finditer(work)):
        spans = [
            (m.start() + match.start(), m.end() + match.start())
            for m in re.finditer(r"\d+", match.group())
        ]
        if sum(e - s for s, e in spans) < 6:
            continue
        chain = _Chain(
            digits=[view[s:e] for s, e in spans],
            spans=spans,
            joins=["(" if view[spans[0][0] - 1 : spans[0][0]] == "(" else ""]
            + [view[spans[k - 1][1] : spans[k][0]] for k in range(1, len(spans))],
            plus=[view[max(0, s - 2) : s].endswith(("+", "+ ")) for s, _ in spans],
            free=[sum(1 for i in range(s, e) if not weak[i]) for s, e in spans],
            hard_free=[sum(1 for i in range(s, e) if weak[i] <= 0) for s, e in spans],
            weak=[(weak[s], weak[e - 1]) for s, e in spans],
        )
        cue = bool(_CUE.search(view[max(0, match.start() - 30) : match.start()]))
        analysed = index < _ANALYSED_CHAINS and len(spans) <= _ANALYSED_GROUPS
        picked = _pick(chain, cue) if analysed else []
        taken = {k for a, b in picked for k in range(a, b + 1)}
        long_ids = {k for k, (s, e) in enumerate(spans) if in_url[s] and e - s > 15}  # status ids
        free = [k for k in range(len(spans)) if k not in taken | long_ids]
        for a, b in picked + _leftovers(chain, free, cue):
            removals.append(_widen(view, spans[a][0], spans[b][1]))
    return removals
