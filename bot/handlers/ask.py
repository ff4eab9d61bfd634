"""slug|question: record a question node, then answer from what the ledger already holds.

An answer that cites the ledger offers two buttons (WhatsApp): "More" (MORE) and "Add
evidence", whose tap (``AddEvidence``) is answered with the exact ``ingest`` line to send
(``bot.handlers.conversation``).
"""

from __future__ import annotations

from bot.catalogue.answers import relevant_claims
from bot.catalogue.articles import article_counts, find_article, unknown_article_reply
from bot.catalogue.safety import asks_for_advice
from bot.handlers.context import CATALOGUE_ONLY, NOT_MEDICAL_ADVICE, Context, Outcome
from bot.messaging.outbox import Button
from bot.messaging.sms import fit_lines
from bot.parsing import Ask, More, add_evidence_payload, payload_for, title_for
from bot.parsing.buttons import ADD_EVIDENCE_TITLE
from ledger.chain import append
from ledger.models import QuestionNode
from ledger.redact import redact_numbers

ANSWERS = 3


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
    remember(ctx, article.slug, node.id, offset=0)

    header = f"Saved as q:{node.id} on {article.title}."
    evidence_tail = f"Add evidence: ingest {article.slug}|q:{node.id}|<paste>"
    if asks_for_advice(command.question):
        # Claims can carry amounts ("50 ug/kg in rats"); a dosing question gets none of them.
        return Outcome(
            f"{header}\n{CATALOGUE_ONLY}\n{ctx.article_url(article.slug)} {NOT_MEDICAL_ADVICE}"
        )
    cited = relevant_claims(ctx.session, article, question, limit=ANSWERS)
    ctx.contact.last_offset = len(cited)
    if not cited:
        counts = article_counts(ctx.session, article)
        return Outcome(
            f"{header}\nThe ledger has nothing on that yet ({counts.line()}).\n"
            f"{evidence_tail}\n{ctx.article_url(article.slug)} {NOT_MEDICAL_ADVICE}"
        )
    lines = [header, "From the ledger:"] + [c.line() for c in cited]
    tail = f"More: MORE or {ctx.article_url(article.slug)}\n{evidence_tail}\n{NOT_MEDICAL_ADVICE}"
    # The header and the best claim always; more claims as they fit.
    return Outcome(
        fit_lines(lines, tail, ctx.settings.max_segments, keep=3),
        buttons=answer_buttons(article.slug, node.id),
    )


def answer_buttons(slug: str, node_id: int) -> tuple[Button, ...]:
    """After an answer: the next claims, or how to add evidence to this question."""
    return (
        Button(payload_for(More()), title_for(More())),
        Button(add_evidence_payload(slug, node_id), ADD_EVIDENCE_TITLE),
    )


def remember(ctx: Context, slug: str, node_id: int | None, offset: int | None) -> None:
    """Conversation memory for MORE, '|follow-up' and 'ingest q:N|…' (30 minutes)."""
    contact = ctx.contact
    contact.last_slug, contact.last_node_id = slug, node_id
    contact.last_offset, contact.last_context_at = offset, ctx.now
