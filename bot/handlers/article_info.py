"""A bare slug: what the ledger holds on the article and what people ask about it."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.catalogue.articles import article_counts, find_article, unknown_article_reply
from bot.handlers.ask import remember
from bot.handlers.context import NOT_MEDICAL_ADVICE, Context, Outcome
from bot.messaging.sms import fit_lines
from bot.parsing import ArticleInfo
from ledger.models import Article, QuestionNode

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


def suggested_prompts(ctx: Context, article: Article, limit: int = MAX_PROMPTS) -> list[str]:
    """The most-asked open questions first, topped up with defaults."""
    asked = ctx.session.execute(
        select(QuestionNode.text, func.count().label("n"))
        .where(QuestionNode.article_id == article.id, QuestionNode.status == "open")
        .group_by(QuestionNode.text)
        .order_by(func.count().desc(), QuestionNode.text)
        .limit(limit)
    ).all()
    prompts = [row.text for row in asked if len(row.text) <= 80]
    for default in DEFAULT_PROMPTS:
        if len(prompts) >= limit:
            break
        if default not in prompts:
            prompts.append(default)
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
    # As many prompts as fit in the reply; the page lists them all.
    return Outcome(fit_lines(lines, tail, ctx.settings.max_segments))
