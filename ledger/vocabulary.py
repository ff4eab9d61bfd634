"""The ledger's fixed words, in one place: evidence tiers and source kinds.

Kept free of imports so the pure modules (the grammar, the article parser) can share them
with the models without pulling in the database layer.
"""

TIERS = ("human", "preclinical", "anecdotal")
SOURCE_KINDS = (
    "pubmed",
    "trial",
    "review",
    "journal",
    "web",
    "reddit",
    "x",
    "youtube",
    "instagram",
    "other",
)
