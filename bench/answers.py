"""Benchmark: how answer ranking (ledger.ranking) scales from 100 to 10,000 claims.

Not a test: it prints numbers and asserts nothing about them.

    python -m bench.answers            # 10 rounds
    python -m bench.answers --quick    # 3 rounds (a few seconds)

Corpora are synthetic and deterministic (``random.Random(seed)``): each claim is 12-45 words
drawn from a vocabulary made of every word of the seed article (tests/fixtures/semax-article.txt)
plus some extra biomedical words, with Zipf-like weights by how often the word occurs in the
seed, so common words ("semax", "bdnf") have long postings lists as they would in a real
ledger. The same 50 questions (12 written like real texts, 38 generated from the vocabulary)
are asked of every corpus, in every round, after one warm-up pass. Each question is timed on
its own (``time.perf_counter``), with ``limit=3`` as the bot asks; the table gives the median
and the min-max over all questions and rounds, and the ratio of medians against the smallest
corpus.

:func:`corpus_database` puts the same synthetic claims into a real, migrated database behind
the seed article (what bench/stage_answers.py and bench/stage_pages.py measure the bot on).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from ledger.ranking import TIER_ORDER, Document, Index

SIZES = (100, 10_000)
QUESTION_COUNT = 50
SEED = 20240611
SEED_ARTICLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "semax-article.txt"

_EXTRA_TEXT = (
    "hippocampus cortex striatum dopamine serotonin glutamate gaba neurotrophin ngf nt3 vegf "
    "ischemia reperfusion infarct neuroprotection neurogenesis synaptic plasticity microglia "
    "cytokine interleukin tnf oxidative apoptosis caspase mitochondria placebo randomized "
    "double blind cohort crossover intranasal subcutaneous plasma serum cerebrospinal "
    "dose response latency memory attention anxiety depression insomnia headache fatigue "
    "tolerance withdrawal rats mice rodents patients volunteers participants humans"
)
EXTRA_WORDS = _EXTRA_TEXT.split()

HANDWRITTEN = (
    "does it raise BDNF in stroke patients?",
    "what do rats show about BDNF",
    "semax|does it raise BDNF in people?",
    "any side effects like headache or insomnia?",
    "does it help focus and memory",
    "is there tolerance after a few weeks?",
    "what about anxiety and sleep",
    "studies in mice with alzheimer's",
    "does the nasal spray work better than injectable",
    "trkB phosphorylation in the hippocampus",
    "is it approved by the FDA",
    "dopamine and ADHD",
)

_WORD = re.compile(r"[^\W_]+")


def vocabulary() -> tuple[list[str], list[float]]:
    """Words by descending seed frequency, with Zipf weights 1/rank."""
    text = SEED_ARTICLE.read_text(encoding="utf-8") if SEED_ARTICLE.exists() else ""
    counts = Counter(word.casefold() for word in _WORD.findall(text) if len(word) > 1)
    for word in EXTRA_WORDS:
        counts.setdefault(word, 1)
    # Sort by count, then alphabetically, so the order never depends on hashing.
    words = [word for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    weights = [1.0 / rank for rank in range(1, len(words) + 1)]
    return words, weights


def make_corpus(size: int, seed: int = SEED) -> list[Document]:
    words, weights = vocabulary()
    rng = random.Random(seed * 1_000_003 + size)
    tiers = list(TIER_ORDER)
    docs = []
    for key in range(size):
        length = rng.randint(12, 45)
        text = " ".join(rng.choices(words, weights=weights, k=length))
        tier = rng.choices(tiers, weights=(2, 3, 10))[0]
        docs.append(Document(key=key, text=text, tier=tier, sid=f"s{key}"))
    return docs


def make_questions(count: int = QUESTION_COUNT, seed: int = SEED) -> list[str]:
    words, weights = vocabulary()
    rng = random.Random(seed)
    questions = list(HANDWRITTEN[:count])
    frames = ("does it {}?", "what about {}", "{}", "is there evidence on {}?", "any {} in people")
    while len(questions) < count:
        picked = rng.choices(words, weights=weights, k=rng.randint(2, 6))
        questions.append(rng.choice(frames).format(" ".join(picked)))
    return questions


SLUG = "semax"
_BATCH = 5000  # claims appended per transaction while filling


@contextlib.contextmanager
def corpus_database(size: int, postgres_url: str | None = None) -> Iterator:
    """A migrated database (a temporary SQLite file, or a private schema of ``postgres_url``)
    holding the seed article under slug ``semax`` and synthetic claims up to ``size`` claims in
    all, appended as the importer appends them: a hash-chained ``claim`` entry each (in the
    Merkle tree) and its claim row, citing the seed's sources in turn. Yields the engine."""
    from bench.harness import PostgresSchema
    from ledger.db import make_engine

    folder = Path(tempfile.mkdtemp(prefix="ledgerbot-corpus-"))
    schema = PostgresSchema(postgres_url) if postgres_url else None
    engine = make_engine(schema.url if schema else f"sqlite:///{folder}/corpus.sqlite3")
    try:
        _fill(engine, size)
        yield engine
    finally:
        engine.dispose()
        if schema:
            schema.drop()
        shutil.rmtree(folder, ignore_errors=True)


def _fill(engine, size: int) -> None:
    from sqlalchemy import select

    from ledger.article_format import parse_article
    from ledger.chain import append_many
    from ledger.db import session_factory, transaction
    from ledger.importer import import_article
    from ledger.migrate import upgrade
    from ledger.models import Article, Claim, Source

    upgrade(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        import_article(session, parse_article(SEED_ARTICLE.read_text(encoding="utf-8"), SLUG))
        article = session.scalar(select(Article).where(Article.slug == SLUG))
        have = len(article.claims)
        sources = session.execute(
            select(Source.id, Source.sid).where(Source.article_id == article.id)
        ).all()
    docs = make_corpus(max(0, size - have))
    for start in range(0, len(docs), _BATCH):
        chunk = docs[start : start + _BATCH]
        cited = [sources[doc.key % len(sources)] for doc in chunk]
        with transaction(sessions) as session:
            payloads = [
                {"sid": s.sid, "tier": d.tier, "text": d.text}
                for d, s in zip(chunk, cited, strict=True)
            ]
            entries = append_many(session, [("claim", SLUG, p) for p in payloads])
            session.add_all(
                Claim(
                    article_id=article.id,
                    source_id=s.id,
                    tier=d.tier,
                    text=d.text,
                    ledger_seq=e.seq,
                )
                for d, s, e in zip(chunk, cited, entries, strict=True)
            )


def _time_size(size: int, questions: list[str], rounds: int) -> dict:
    docs = make_corpus(size)
    started = time.perf_counter()
    index = Index.build(docs)
    build_s = time.perf_counter() - started
    for question in questions:  # warm-up
        index.search(question)
    timings: list[float] = []
    answered = 0
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            results = index.search(question, limit=3)
            timings.append((time.perf_counter() - started) * 1000)
            answered += bool(results)
    return {
        "name": "answers.search",
        "size": size,
        "rounds": rounds,
        "queries": len(timings),
        "answered": answered / len(timings),
        "build_s": build_s,
        "median_ms": statistics.median(timings),
        "min_ms": min(timings),
        "max_ms": max(timings),
        "p95_ms": statistics.quantiles(timings, n=20)[-1],
    }


def run(quick: bool = False) -> list[dict]:
    """Time the same questions against each corpus size; one dict per size.

    Each dict has ``ratio`` = its median over the smallest corpus's median.
    """
    rounds = 3 if quick else 10
    questions = make_questions()
    rows = [_time_size(size, questions, rounds) for size in SIZES]
    base = rows[0]["median_ms"]
    for row in rows:
        row["ratio"] = row["median_ms"] / base if base else float("nan")
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [
        f"answers: {rows[0]['queries'] // rows[0]['rounds']} questions x {rows[0]['rounds']} "
        "rounds, limit=3",
        f"{'claims':>8}  {'build s':>8}  {'median ms':>10}  {'min-max ms':>16}  "
        f"{'p95 ms':>8}  {'answered':>8}",
    ]
    for row in rows:
        span = f"{row['min_ms']:.3f}-{row['max_ms']:.3f}"
        lines.append(
            f"{row['size']:>8,}  {row['build_s']:>8.2f}  {row['median_ms']:>10.3f}  {span:>16}  "
            f"{row['p95_ms']:>8.3f}  {row['answered']:>8.0%}"
        )
    small, large = rows[0], rows[-1]
    lines.append(
        f"ratio {large['size']:,}/{small['size']:,} (median): {large['ratio']:.1f}x "
        f"for {large['size'] / small['size']:.0f}x the claims"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.answers", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 10")
    args = parser.parse_args(argv)
    print(format_table(run(quick=args.quick)))


if __name__ == "__main__":
    main()
