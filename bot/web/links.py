"""Links for the identifiers a paste cites: where a reader can check the source itself.

PubMed ids go to PubMed, DOIs to doi.org, trial ids to ClinicalTrials.gov, and URLs are
linked as given — but only http(s) URLs, so a pasted ``javascript:`` never becomes a link.
The text shown is the identifier as catalogued; Jinja escapes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

LABELS = {"pmids": "PMID", "dois": "DOI", "nct_ids": "Trial", "urls": "Link"}


@dataclass(frozen=True)
class Link:
    label: str
    text: str
    href: str | None  # None: shown, not linked


def _href(kind: str, value: str) -> str | None:
    if kind == "pmids" and value.isdigit():
        return f"https://pubmed.ncbi.nlm.nih.gov/{value}/"
    if kind == "dois" and value.startswith("10."):
        return "https://doi.org/" + quote(value, safe="/:;()._-")
    if kind == "nct_ids" and value.upper().startswith("NCT"):
        return f"https://clinicaltrials.gov/study/{value.upper()}"
    if kind == "urls" and urlsplit(value).scheme.lower() in ("http", "https"):
        return value
    return None


def identifier_links(identifiers: Any) -> list[Link]:
    """Every identifier of an evidence item or entry, in a stable order, as links."""
    if not isinstance(identifiers, dict):
        return []
    links = []
    for kind, label in LABELS.items():
        for value in identifiers.get(kind) or ():
            if isinstance(value, str) and value:
                links.append(Link(label, value, _href(kind, value)))
    return links


@dataclass(frozen=True)
class Channels:
    """Where to text the bot, from the configuration: what an article page offers."""

    sms: str | None  # +15005550006
    whatsapp: str | None  # +14155238886 (the sender, without the whatsapp: prefix)
    dev_phone: bool

    def sms_href(self, body: str) -> str | None:
        # "?&body=" is the form both iOS and Android Messages read.
        return f"sms:{self.sms}?&body={quote(body, safe='')}" if self.sms else None

    def whatsapp_href(self, body: str) -> str | None:
        if not self.whatsapp:
            return None
        return f"https://wa.me/{self.whatsapp.lstrip('+')}?text={quote(body, safe='')}"


def channels(settings) -> Channels:
    whatsapp = settings.twilio_whatsapp_from
    dev = not settings.twilio_configured or bool(getattr(settings, "dev_phone", False))
    return Channels(
        settings.twilio_sms_from,
        whatsapp.removeprefix("whatsapp:") if whatsapp else None,
        dev,
    )
