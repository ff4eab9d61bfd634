"""Catalogue only: spotting questions that ask for dosing, protocol or treatment advice.

The rule is deliberately broad; a false positive costs the asker one extra sentence, a
false negative could read as advice.
"""

from __future__ import annotations

import re

_ADVICE = re.compile(
    r"\b(how\s+much|how\s+many\s+(mg|mcg|drops|sprays|units|ml)|how\s+often|how\s+long\s+should"
    r"|dos(e|es|age|ing)|cycl(e|es|ing)|stack(s|ing)?|protocol|regimen|titrat\w*"
    r"|should\s+i\s+(take|use|inject|try|start|stop)|can\s+i\s+(take|inject|combine|mix)"
    r"|inject(ion)?s?|(\d+(\.\d+)?\s?(mg|mcg|µg|ug|ml|iu)\b)|per\s+day|a\s+day|daily\s+amount"
    r"|treat(ment)?\s+(for|my)|cure\s+my|prescri\w+)",
    re.IGNORECASE,
)


def asks_for_advice(question: str) -> bool:
    return _ADVICE.search(question) is not None
