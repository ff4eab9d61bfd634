"""Which kind of evidence a question asks about, so answers lead with that tier.

"Does it raise BDNF in people?" wants the 110-patient study before two rat studies that
match its words better; "what do rats show" wants the rat studies; "what side effects do
people report" wants what people say. Keyword rules, checked in this order because the
phrases overlap ("what do people say" mentions people but asks for anecdotes). A question
that names none of them keeps the plain BM25 order.
"""

from __future__ import annotations

import re

_ANECDOTAL = re.compile(
    r"\b(what\s+do(es)?\s+(people|users|folks|others|anyone|reddit|twitter)\s+(say|think|report|"
    r"feel|notice|experience)\w*|experienc\w*|anecdot\w*|side[\s-]?effects?|reports?|reported|"
    r"users?|reddit|twitter|tweets?|youtube|instagram|posts?|anyone|anybody|reviews?\s+from|"
    r"(people|who|you|they)\s+(have\s+|has\s+)?(tried|took|taken|used)"
    r"|feel|felt|notic\w*)\b",
    re.IGNORECASE,
)
_PRECLINICAL = re.compile(
    r"\b(animals?|rats?|mice|mouse|rodents?|murine|in\s+vitro|cells?|cellular|mechanism\w*|"
    r"how\s+(does|do)\s+it\s+work|lab|laboratory|preclinical|pre-clinical|models?|genes?|"
    r"receptors?|hippocamp\w*|neurons?)\b",
    re.IGNORECASE,
)
_HUMAN = re.compile(
    r"\b(people|persons?|humans?|patients?|clinical|clinically|trials?|volunteers?|"
    r"participants?|adults?|men|women|elderly|subjects?|healthy)\b",
    re.IGNORECASE,
)
RULES = (("anecdotal", _ANECDOTAL), ("preclinical", _PRECLINICAL), ("human", _HUMAN))


def preferred_tier(question: str) -> str | None:
    """The tier the question asks about, or None when it does not say."""
    for tier, pattern in RULES:
        if pattern.search(question):
            return tier
    return None
