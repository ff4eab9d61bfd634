"""Stage 6, answers: BM25 ranking from 100 to 10,000 claims (bench/answers.py, reused)."""

from __future__ import annotations

from bench import answers
from bench.config import RunConfig
from bench.results import Row, StageResult, Target

TARGET = Target("<=", 20.0, "≤ 20 ms")


def run(cfg: RunConfig) -> StageResult:
    result = StageResult("answers", "Answers: BM25 search, 100 vs 10,000 claims")
    runs = [answers.run(quick=cfg.quick) for _ in range(cfg.rounds)]
    rows = runs[-1]
    small, large = rows[0], rows[-1]
    queries = large["queries"] // large["rounds"]
    result.rows = [
        Row(
            "answers",
            f"search latency median, {large['size']:,} claims ({queries} questions x "
            f"{large['rounds']} rounds)",
            "ms",
            [run[-1]["median_ms"] for run in runs],
            ceiling=[run[0]["median_ms"] for run in runs],
            ceiling_label=f"same search over {small['size']:,} claims",
            digits=3,
            target=TARGET,
            details={
                "min_ms": large["min_ms"],
                "max_ms": large["max_ms"],
                "p95_ms": large["p95_ms"],
            },
        )
    ]
    result.rows += quality_rows()
    result.details = {"runs": runs}
    result.notes.append(
        f"Each of the {cfg.rounds} runs of bench.answers.run gives the median over every question "
        f"in its {large['rounds']} rounds; the table shows the median and min–max of those. "
        f"Per question (last run): {large['min_ms']:.3f}–{large['max_ms']:.3f} ms, p95 "
        f"{large['p95_ms']:.3f} ms. "
        f"{large['size'] / small['size']:.0f}x the claims cost {large['ratio']:.0f}x the "
        f"median time; building the 10,000-claim index takes {large['build_s']:.2f} s, once "
        f"per article and process (bot/catalogue/answers.py caches it). The 'ceiling' column is "
        f"the 100-claim corpus and the ratio is the growth factor (the target is the 10,000-claim "
        f"median, ≤ 20 ms)."
    )
    return result


def quality_rows() -> list[Row]:
    """Answer quality on the seed article's labelled questions (tests/fixtures/)."""
    import tempfile
    from pathlib import Path

    from ledger.article_format import parse_article
    from ledger.db import make_engine, session_factory, transaction
    from ledger.importer import import_article
    from ledger.migrate import upgrade
    from tests.support.answer_quality import FLOORS, QUESTIONS, evaluate

    seed = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "semax-article.txt"
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/quality.sqlite3")
        upgrade(engine)
        sessions = session_factory(engine)
        with transaction(sessions) as session:
            import_article(session, parse_article(seed.read_text(encoding="utf-8")))
        with sessions() as session:
            quality = evaluate(session)
        engine.dispose()
    label = f"{quality.count} labelled questions on the seed article ({QUESTIONS.name})"
    measures = (
        ("first", "first claim answers the question", quality.first),
        ("precision", "precision@3", quality.precision),
        ("recall", "recall@3 (of what 3 slots can hold)", quality.recall),
    )
    return [
        Row("answers", f"{text}, {label}", "share", [value], digits=3, target=_floor(FLOORS[key]))
        for key, text, value in measures
    ]


def _floor(value: float) -> Target:
    return Target(">=", value, f"≥ {value:.2f} (floor)")
