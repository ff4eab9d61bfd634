"""How texts become search tokens, for the BM25 index in :mod:`ledger.ranking`.

Tokenizer (:func:`tokenize`), in order:

1. Unicode NFKC, then ``casefold`` (so "ＢＤＮＦ", "Bdnf" and "bdnf" are one token, and the
   micro sign "µ" becomes Greek "μ").
2. Split on anything that is not a letter or digit ("ACTH(4-10)" -> "acth", "4", "10";
   "healthy-subject" -> "healthy", "subject" before stemming). Underscores split too.
3. Drop :data:`STOPWORDS` (function words and question filler: "does", "it", "what", ...) and
   one-letter words. Numbers are kept ("110", "2018", "4", "1").
4. Stem words made only of ASCII letters with :func:`stem`; anything with a digit ("s2",
   "1mg"), any non-ASCII word ("μg") and any two-letter word keeps its form. Biomedical
   acronyms ("bdnf", "trkb", "acth", "adhd", "mrna") carry no English suffix, so the stemmer
   leaves them alone.
5. :data:`SYNONYMS`: a few stems are replaced by a fixed tuple of tokens, e.g. "patients" ->
   "patient", "human" and "mice" -> "mous", "animal" (the reasons are documented there).

Stemmer: steps 1a, 1b, 1c and 5 of Porter (1980) -- plurals, -ed/-ing, final y and final e --
and none of the derivational steps (so "neural" and "neuron" stay apart). Examples:
"patients" -> "patient", "studies"/"study"/"studied" -> "studi", "raises"/"raised"/"raising"/
"raise" -> "rais", "increased"/"increases" -> "increas", "dosing"/"doses"/"dose" -> "dose",
"use"/"used"/"using" -> "us", "rate" -> "rate" (not "rat": Porter keeps the e of a short
consonant-vowel-consonant stem).
"""

from __future__ import annotations

import functools
import re
import unicodedata

# English function words plus the filler of texted questions. Matched before stemming, on the
# casefolded word. "people", "say", "help", "work" are here because questions use them as
# frame ("what do people say about ...", "does it help with ...", "does it work for ..."): the
# words after them carry the meaning. Content words a question can hinge on are deliberately
# *not* here: "effect", "side", "take", "safe", "human", "no"/"not", numbers.
_STOPWORD_TEXT = """
    a about above after again against all also am an and any anyone anything are as at
    be been being but by can could did do does doing done during each else ever for from
    get gets got had has have having he her here hers him his how i if in into is it its
    itself just me might more most my of on once only or other our ours out over own please
    really she should so some someone something such than that the their theirs them
    then there these they this those through to too under until up us very was we were what
    when where whether which while who whom why will with would yet you your yours
    tell know anybody thing things people say says said help helps helped work works worked
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# What some words index as, written as words and looked up by stem (SYNONYMS below), so every
# inflection ("patient", "patients") maps alike. A word listed here is replaced by its tuple,
# which keeps the word itself when it is worth keeping. Each entry connects how people ask to
# how the ledger words its claims and tiers ("human", "animal"):
# - "patients"/"participants"/"volunteers" are how human studies are described; a question
#   about "humans" should reach them, and a question about "patients" should reach "human".
# - "rat"/"mouse"/"rodent" studies are the animal evidence ("Animal or lab work", "animal model
#   of Alzheimer's"); the specific word is kept alongside "animal" so a question about rats
#   still prefers rat studies (the rarer word has the higher idf) over mouse studies.
# - "mice" is an irregular plural the suffix rules cannot reach.
# - "depression" is what people ask about; studies report "antidepressant-like" effects.
# Not listed: "people" (a stopword: "what do people say" is as common as "in people"), and
# "men"/"women" ("male rats" and "female mice" are animal studies).
_SYNONYM_WORDS: dict[str, tuple[str, ...]] = {
    "patient": ("patient", "human"),
    "participant": ("participant", "human"),
    "volunteer": ("volunteer", "human"),
    "rat": ("rat", "animal"),
    "mouse": ("mouse", "animal"),
    "mice": ("mouse", "animal"),
    "rodent": ("rodent", "animal"),
    "depression": ("depression", "antidepressant"),
    "depressed": ("depression", "antidepressant"),
    "antidepressant": ("antidepressant", "depression"),
}

_SPLIT = re.compile(r"[\W_]+")
_VOWELS = frozenset("aeiou")


def _is_consonant(word: str, i: int) -> bool:
    ch = word[i]
    if ch in _VOWELS:
        return False
    if ch == "y":
        return i == 0 or not _is_consonant(word, i - 1)
    return True


def _measure(word: str) -> int:
    """Porter's m: the number of vowel-consonant sequences in ``word``."""
    m, prev_vowel = 0, False
    for i in range(len(word)):
        consonant = _is_consonant(word, i)
        if consonant and prev_vowel:
            m += 1
        prev_vowel = not consonant
    return m


def _has_vowel(word: str) -> bool:
    return any(not _is_consonant(word, i) for i in range(len(word)))


def _double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _is_consonant(word, len(word) - 1)


def _cvc(word: str) -> bool:
    """Ends consonant-vowel-consonant, the last not w, x or y (a short syllable: "hop")."""
    n = len(word)
    return (
        n >= 3
        and _is_consonant(word, n - 3)
        and not _is_consonant(word, n - 2)
        and _is_consonant(word, n - 1)
        and word[-1] not in "wxy"
    )


def stem(word: str) -> str:
    """Porter steps 1a, 1b, 1c and 5 on a casefolded word; see the module docstring.

    Words of 1-2 characters and anything that is not all ASCII letters are returned as they
    are (numbers, "s2", non-Latin words).
    """
    if len(word) <= 2 or not (word.isascii() and word.isalpha()):
        return word
    # Step 1a: plurals.
    if word.endswith(("sses", "ies")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    # Step 1b: -eed, -ed, -ing.
    if word.endswith("eed"):
        if _measure(word[:-3]) > 0:
            word = word[:-1]
    else:
        for suffix in ("ed", "ing"):
            base = word[: -len(suffix)]
            if word.endswith(suffix) and _has_vowel(base):
                word = base
                if word.endswith(("at", "bl", "iz")):
                    word += "e"
                elif _double_consonant(word) and word[-1] not in "lsz":
                    word = word[:-1]
                elif _measure(word) == 1 and _cvc(word):
                    word += "e"
                break
    # Step 1c: final y after a vowel-bearing stem becomes i ("study" and "studies" agree).
    if word.endswith("y") and _has_vowel(word[:-1]):
        word = word[:-1] + "i"
    # Step 5a: final e, unless it protects a short syllable ("rate", "dose", "stroke").
    if word.endswith("e"):
        base = word[:-1]
        m = _measure(base)
        if m > 1 or (m == 1 and not _cvc(base)):
            word = base
    # Step 5b: -ll after a long stem ("controll" -> "control").
    if word.endswith("ll") and _measure(word) > 1:
        word = word[:-1]
    return word


SYNONYMS: dict[str, tuple[str, ...]] = {
    stem(word): tuple(stem(extra) for extra in extras) for word, extras in _SYNONYM_WORDS.items()
}


@functools.lru_cache(maxsize=16384)
def _word_tokens(raw: str) -> tuple[str, ...]:
    """What one casefolded word indexes as (steps 3-5). Cached: building an index of 100,000
    claims stems millions of words drawn from a vocabulary of thousands, and the stemmer is
    most of the cost. 16,384 words are a few megabytes at most."""
    if raw in STOPWORDS or (len(raw) == 1 and not raw.isdigit()):
        return ()
    token = stem(raw)
    return SYNONYMS.get(token, (token,))


def tokenize(text: str) -> list[str]:
    """The tokens of ``text`` as indexed and searched; see the module docstring for the rules."""
    tokens: list[str] = []
    for raw in _SPLIT.split(unicodedata.normalize("NFKC", text).casefold()):
        if raw:
            tokens.extend(_word_tokens(raw))
    return tokens
