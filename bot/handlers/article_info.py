"""A bare slug: what the ledger holds on the article and what people ask about it."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.catalogue.articles import article_counts, find_article, unknown_article_reply
from bot.catalogue.safety import asks_for_advice
from bot.handlers.ask import remember
from bot.handlers.context import NOT_MEDICAL_ADVICE, Context, Outcome
from bot.messaging.sms import fit_lines
from bot.parsing import ArticleInfo
from ledger.models import Article, QuestionNode
from ledger.tokens import tokenize

DEFAULT_PROMPTS = (
    "what does the human evidence show?",
    "what do animal studies show?",
    "what side effects do people report?",
    "how strong is the evidence?",
    "what is it studied for?",
    "how is it proposed to work?",
    "what do we not know yet?",
    "what do people on reddit say?",
)
MAX_PROMPTS = 8
SUMMARY_CHARS = 180


MIN_ASKERS = 2
PROMPT_CHARS = (12, 80)


def worth_suggesting(text: str) -> bool:
    """The quality bar for a user's question to be offered to others as a prompt.

    Long enough to mean something and short enough to read in a text, at least two words
    that carry meaning (not "are you still there?"), and never a question asking for dosing,
    protocol or treatment advice — that is catalogued but never promoted.
    """
    low, high = PROMPT_CHARS
    return low <= len(text) <= high and len(tokenize(text)) >= 2 and not asks_for_advice(text)


def suggested_prompts(ctx: Context, article: Article, limit: int = MAX_PROMPTS) -> list[str]:
    """Open questions at least two people asked that pass the bar, topped up with defaults."""
    asked = ctx.session.execute(
        select(QuestionNode.text, func.count(func.distinct(QuestionNode.asker)).label("askers"))
        .where(QuestionNode.article_id == article.id, QuestionNode.status == "open")
        .group_by(QuestionNode.text)
        .having(func.count(func.distinct(QuestionNode.asker)) >= MIN_ASKERS)
        .order_by(func.count(func.distinct(QuestionNode.asker)).desc(), QuestionNode.text)
        .limit(limit * 4)
    ).all()
    prompts: list[str] = []
    seen: set[str] = set()
    for text in [row.text for row in asked if worth_suggesting(row.text)] + list(DEFAULT_PROMPTS):
        key = " ".join(tokenize(text))
        if key not in seen and len(prompts) < limit:
            seen.add(key)
            prompts.append(text)
    return prompts


def handle(command: ArticleInfo, ctx: Context) -> Outcome:
    article = find_article(ctx.session, command.slug)
    if article is None:
        return Outcome(unknown_article_reply(ctx.session, command.slug))
    remember(ctx, article.slug, None, None)
    counts = article_counts(ctx.session, article)
    summary = article.summary.strip()
    if len(summary) > SUMMARY_CHARS:
        summary = summary[:SUMMARY_CHARS].rsplit(" ", 1)[0] + "..."
    lines = [f"{article.title}: {summary}" if summary else article.title]
    lines.append(f"Ledger: {counts.line()}. Try:")
    lines += [f"{article.slug}|{prompt}" for prompt in suggested_prompts(ctx, article)]
    tail = f"{ctx.article_url(article.slug)} {NOT_MEDICAL_ADVICE}"
    # The summary and counts always; then as many prompts as fit (the page lists them all).
    return Outcome(fit_lines(lines, tail, ctx.settings.max_segments, keep=2))
