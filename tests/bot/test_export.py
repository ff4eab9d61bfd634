"""`ledgerbot export-article`: the published text format again, from the ledger alone.

Round trip, on SQLite and PostgreSQL: import an article, export it, import the export into an
empty database; the entries' payloads and the API's answer must be the same. Two articles: the
real published seed, and tests/fixtures/bpc-157-article.txt, written for these tests in the
same format with every section (its scientific titles are real publications; its summaries,
people's posts and counts are illustrative, not quotations).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import cli
from bot.ops.services import Services
from bot.web.app import create_app
from ledger.models import LedgerEntry
from tests.bot.test_cli import clean_env
from tests.support.settings import make_settings
from tests.test_helpers import DEMO, SECOND, SEED

ARTICLES = [(SEED, "semax", 102), (SECOND, "bpc-157", 39)]


@pytest.fixture
def another_database(request, tmp_path, database_url, _sqlite_dbs, _postgres_dbs):
    """An empty database on the same backend. PostgreSQL tests share one schema, so there it
    is the same database emptied: read what you need from the first one before asking."""

    def make() -> str:
        if database_url.startswith("sqlite"):
            return _sqlite_dbs.fresh_url(tmp_path)
        return _postgres_dbs.fresh_url(tmp_path)

    return make


def ledgerbot(tmp_path, url: str, *args: str):
    return CliRunner().invoke(cli, list(args), env=clean_env(tmp_path, DATABASE_URL=url))


@pytest.fixture
def read(tmp_path, redis_url, twilio):
    """What a database holds: every entry as (kind, slug, payload), and the API's article."""

    def read_(url: str, slug: str) -> tuple[list[tuple[str, str, dict]], dict]:
        services = Services(make_settings(tmp_path / "reader", url, redis_url, twilio.url))
        try:
            with services.sessions() as session:
                rows = session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)).all()
                entries = [(e.kind, e.slug, json.loads(e.payload)) for e in rows]
            client = create_app(services=services).test_client()
            return entries, client.get(f"/api/articles/{slug}").get_json()
        finally:
            services.close()

    return read_


@pytest.mark.parametrize(("path", "slug", "entries"), ARTICLES, ids=["seed", "bpc-157"])
def test_export_then_import_gives_the_same_entries_and_statistics(
    tmp_path, database_url, another_database, read, path, slug, entries
):
    first = ledgerbot(tmp_path, database_url, "import-article", str(path))
    assert first.exit_code == 0, first.output
    assert f"{slug}: {entries} new ledger entries" in first.output
    before, answer = read(database_url, slug)
    exported = tmp_path / f"{slug}-export.txt"
    result = ledgerbot(tmp_path, database_url, "export-article", slug, "-o", str(exported))
    assert result.exit_code == 0, result.output
    printed = ledgerbot(tmp_path, database_url, "export-article", slug.upper())
    assert printed.output == exported.read_text(encoding="utf-8")

    fresh = another_database()
    again = ledgerbot(tmp_path, fresh, "import-article", str(exported))

    assert again.exit_code == 0, again.output
    assert f"{slug}: {entries} new ledger entries" in again.output
    written, after = read(fresh, slug)
    assert written == before
    assert after["stats"] == answer["stats"] and after["declared"] == answer["declared"]
    assert after == answer
    second = tmp_path / "second-export.txt"
    assert ledgerbot(tmp_path, fresh, "export-article", slug, "-o", str(second)).exit_code == 0
    assert second.read_text(encoding="utf-8") == exported.read_text(encoding="utf-8")


def test_the_seed_exports_as_published_without_the_phone_number(tmp_path, database_url):
    assert ledgerbot(tmp_path, database_url, "import-article", str(SEED)).exit_code == 0
    result = ledgerbot(tmp_path, database_url, "export-article", "semax")
    published = SEED.read_text(encoding="utf-8")
    assert result.output == published.replace("+14245134626", "[number removed]") + "\n"


def test_export_of_an_unknown_article_fails(tmp_path, database_url):
    for slug in ("nothing-here", "", "a\x00b"):
        result = ledgerbot(tmp_path, database_url, "export-article", slug)
        assert result.exit_code == 1, slug
        assert "no article" in result.output


def test_import_says_when_there_is_nothing_new_and_refuses_a_collision(tmp_path, database_url):
    assert ledgerbot(tmp_path, database_url, "import-article", str(SEED)).exit_code == 0
    again = ledgerbot(tmp_path, database_url, "import-article", str(SEED))
    assert again.exit_code == 0
    assert (
        "semax: 0 new ledger entries (0 sources, 0 claims; the ledger already holds" in again.output
    )

    clash = ledgerbot(tmp_path, database_url, "import-article", str(DEMO), "--slug", "semax")

    assert clash.exit_code == 1
    assert "semax: not imported, nothing written" in clash.output
    assert "source id(s) s1, s2, s3, s4, s5, s6 hold different content" in clash.output
    own = ledgerbot(tmp_path, database_url, "import-article", str(DEMO), "--slug", "semax-demo")
    assert own.exit_code == 0 and "semax-demo: 13 new ledger entries" in own.output
