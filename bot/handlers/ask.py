"""slug|question: record a question node on the article and say what the ledger holds."""

from __future__ import annotations

from bot.handlers.articles import article_counts, find_article, unknown_article_reply
from bot.handlers.context import CATALOGUE_ONLY, NOT_MEDICAL_ADVICE, Context, Outcome
from bot.parsing import Ask
from bot.safety import asks_for_advice
from ledger.chain import append
from ledger.models import QuestionNode
from ledger.redact import redact_numbers


def handle(command: Ask, ctx: Context) -> Outcome:
    article = find_article(ctx.session, command.slug)
    if article is None:
        return Outcome(unknown_article_reply(ctx.session, command.slug))
    question = redact_numbers(command.question)
    node = QuestionNode(
        article_id=article.id, text=question, asker=ctx.pseudonym, contact_id=ctx.contact.id
    )
    ctx.session.add(node)
    ctx.session.flush()
    entry = append(
        ctx.session,
        "question",
        article.slug,
        {"node_id": node.id, "question": question, "asker": ctx.pseudonym},
        now=ctx.now,
    )
    node.ledger_seq = entry.seq
    ctx.contact.last_slug, ctx.contact.last_node_id = article.slug, node.id
    ctx.contact.last_context_at = ctx.now

    counts = article_counts(ctx.session, article)
    lines = [f"Saved as q:{node.id} on {article.title}."]
    if asks_for_advice(command.question):
        lines.append(CATALOGUE_ONLY)
    lines += [
        f"The ledger holds {counts.line()}.",
        f"Add evidence: ingest {article.slug}|q:{node.id}|<paste>",
        f"More: {ctx.article_url(article.slug)} {NOT_MEDICAL_ADVICE}",
    ]
    return Outcome("\n".join(lines))
