"""Example-based tests: each pins one rule of the SMS grammar with messages people really send."""

import pytest

from bot.parsing import (
    MAX_PASTE,
    MAX_QUESTION,
    TIERS,
    UNKNOWN_HINTS,
    Approve,
    ArticleInfo,
    Ask,
    FollowUp,
    Help,
    Ingest,
    More,
    Pending,
    Reject,
    Show,
    Start,
    Stop,
    Unknown,
    UnknownReason,
    canonical,
    normalize_slug,
    parse,
)

R = UnknownReason
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€")


def reason_of(text):
    result = parse(text)
    assert isinstance(result, Unknown), result
    return result.reason


# --- pre-processing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("semax｜does it raise BDNF?", Ask("semax", "does it raise BDNF?")),
        ("se\u200bmax|q", Ask("semax", "q")),
        ("se\u200cm\u200dax\u2060|q", Ask("semax", "q")),
        ("\ufeffsemax|q", Ask("semax", "q")),
        ("se\u00admax|q", Ask("semax", "q")),
        ("  \n semax | q \t ", Ask("semax", "q")),
        ("ＳＥＭＡＸ｜ｑ", Ask("semax", "q")),
        ("\u200bSTOP\u200b", Stop()),
    ],
)
def test_preprocessing(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b\u200d\ufeff", None, 42, b"semax|x"])
def test_empty_or_not_a_string(text):
    assert parse(text) == Unknown(R.EMPTY, "")


@pytest.mark.parametrize("text", ["\ud800", "semax|\udfff", "\ud83d\ude00", "a\x00b|\x07"])
def test_surrogates_and_control_chars_do_not_crash(text):
    parse(text)


def test_unknown_text_is_normalized_and_truncated():
    result = parse("ｈｅｌｌｏ there, what is this? " + "x" * 500)
    assert result.reason is R.NO_PIPE
    assert result.text.startswith("hello there")
    assert len(result.text) == 200


@pytest.mark.parametrize(
    "text",
    ["x" * (MAX_PASTE + 201), "hello " * 2000, "semax and " * 400 + "|q", "show " + "1" * 2000],
)
def test_too_long(text):
    assert reason_of(text) is R.TOO_LONG


def test_ten_thousand_characters():
    assert reason_of("ä" * 10_000) is R.TOO_LONG


# --- keywords -------------------------------------------------------------------------------

KEYWORDS = {
    Stop(): ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"],
    Start(): ["START", "YES", "UNSTOP"],
    Help(): ["HELP", "INFO"],
    More(): ["MORE"],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (variant, command)
        for command, words in KEYWORDS.items()
        for word in words
        for variant in (
            word,
            word.lower(),
            word.capitalize(),
            f"  {word.swapcase()}.  ",
            f"{word}!",
        )
    ],
)
def test_keywords_any_case_and_trailing_punctuation(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Stop!!", Stop()), ("help?", Help()), ("more .", More()), ("ＳＴＯＰ", Stop())],
)
def test_keyword_variants(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["stop it", "please stop", "stop|", "helpful"])
def test_keywords_must_be_the_whole_message(text):
    assert parse(text) not in (Stop(), Help())


# --- slugs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "slug"),
    [
        ("Semax", "semax"),
        ("BPC 157", "bpc-157"),
        ("bpc_157", "bpc-157"),
        (" BPC-157 ", "bpc-157"),
        ("BPC--157", "bpc-157"),
        ("bpc . _ 157", "bpc-157"),
        ("Sémax", "semax"),
        ("N-Acetyl Semax", "n-acetyl-semax"),
        ("ﬁnasteride", "finasteride"),
        ("Straße", "strasse"),
        ("5-HTP!", "5-htp"),
        ("-semax-", "semax"),
        ("a ? b", "a-b"),
        ("セマックス", ""),
        ("", ""),
    ],
)
def test_normalize_slug(raw, slug):
    assert normalize_slug(raw) == slug
    assert normalize_slug(slug) == slug


def test_normalize_slug_not_a_string():
    assert normalize_slug(None) == ""


# --- ask / article info / follow-up ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("semax|does it raise BDNF in people?", Ask("semax", "does it raise BDNF in people?")),
        ("Semax | Does it work? ", Ask("semax", "Does it work?")),
        ("BPC 157|gut?", Ask("bpc-157", "gut?")),
        ("bpc_157|gut?", Ask("bpc-157", "gut?")),
        ("semax|a|b || c", Ask("semax", "a|b || c")),
        ("semax|line one\nline two", Ask("semax", "line one\nline two")),
        ("stop|is it safe?", Ask("stop", "is it safe?")),
        ("ingest|what is this?", Ask("ingest", "what is this?")),
        ("semax|", ArticleInfo("semax")),
        ("semax|?", ArticleInfo("semax")),
        ("semax| ? ?? ", ArticleInfo("semax")),
        ("Semax", ArticleInfo("semax")),
        ("BPC 157", ArticleInfo("bpc-157")),
        ("N-acetyl semax amidate", ArticleInfo("n-acetyl-semax-amidate")),
        ("noopept 2.0", ArticleInfo("noopept-2-0")),
        ("|and in older adults?", FollowUp("and in older adults?")),
        ("  |  what about dose? ", FollowUp("what about dose?")),
        ("||x", FollowUp("|x")),
    ],
)
def test_ask_article_info_follow_up(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("does semax raise BDNF in people?", R.NO_PIPE),
        ("one two three four five", R.NO_PIPE),
        ("semax?", R.NO_PIPE),
        ("x" * 65, R.NO_PIPE),
        ("セマックス", R.BAD_SLUG),
        ("???|question", R.BAD_SLUG),
        ("   |  ", R.EMPTY_QUESTION),
        ("|", R.EMPTY_QUESTION),
        ("x" * 65 + "|question", R.BAD_SLUG),
        ("semax|" + "q" * (MAX_QUESTION + 1), R.QUESTION_TOO_LONG),
        ("semax|" + "q" * 5000, R.QUESTION_TOO_LONG),
        ("|" + "q" * (MAX_QUESTION + 1), R.QUESTION_TOO_LONG),
    ],
)
def test_ask_errors(text, reason):
    assert reason_of(text) is reason


def test_question_limit_is_inclusive():
    assert parse("semax|" + "q" * MAX_QUESTION) == Ask("semax", "q" * MAX_QUESTION)


# --- ingest ---------------------------------------------------------------------------------

NODE_FORMS = ["q:12", "Q:12", "Q12", "q12", "#12", "12", " q:12 ", "q : 12", "# 12", "012"]
PASTE = "Line one | with a pipe\r\nhttps://pubmed.ncbi.nlm.nih.gov/123/?a=1|b  \n\nlast line"


@pytest.mark.parametrize("node", NODE_FORMS)
def test_ingest_node_forms_with_slug(node):
    assert parse(f"ingest semax|{node}|{PASTE}") == Ingest("semax", 12, PASTE)


@pytest.mark.parametrize("node", NODE_FORMS)
def test_ingest_node_forms_without_slug(node):
    assert parse(f"INGEST {node}|{PASTE}") == Ingest(None, 12, PASTE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ingest BPC 157|q:3|text", Ingest("bpc-157", 3, "text")),
        ("ingest\nsemax|q:3|  padded  \n", Ingest("semax", 3, "padded")),
        ("ingest semax｜q:3｜a｜b", Ingest("semax", 3, "a｜b")),
        ("ingest q:3|10 mg/m² ﬁne", Ingest(None, 3, "10 mg/m² ﬁne")),
        ("ingest q:3|a\u200bb", Ingest(None, 3, "ab")),
        ("ingest q12-x|q:3|t", Ingest("q12-x", 3, "t")),
        ("ingest 12|q:3|t", Ingest(None, 12, "q:3|t")),
        ("ingest q:2147483647|t", Ingest(None, 2**31 - 1, "t")),
    ],
)
def test_ingest(text, expected):
    assert parse(text) == expected


def test_ingest_paste_limit_is_inclusive():
    assert parse("ingest q:1|" + "p" * MAX_PASTE) == Ingest(None, 1, "p" * MAX_PASTE)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ingest semax|q:x|text", R.BAD_NODE_ID),
        ("ingest semax|q:0|text", R.BAD_NODE_ID),
        ("ingest q:0|text", R.BAD_NODE_ID),
        ("ingest 99999999999|text", R.BAD_NODE_ID),
        ("ingest semax|q:2147483648|text", R.BAD_NODE_ID),
        ("ingest semax|-1|text", R.BAD_NODE_ID),
        ("ingest semax|text", R.BAD_NODE_ID),
        ("ingest semax", R.BAD_NODE_ID),
        ("ingest ???|q:1|text", R.BAD_SLUG),
        ("ingest q12.|q:1|text", R.BAD_SLUG),
        ("ingest q:1", R.EMPTY_PASTE),
        ("ingest q:1|   ", R.EMPTY_PASTE),
        ("ingest semax|q:1|", R.EMPTY_PASTE),
        ("ingest semax|q:1", R.EMPTY_PASTE),
        ("ingest q:1|" + "p" * (MAX_PASTE + 1), R.PASTE_TOO_LONG),
        ("ingest semax|q:1|" + "p" * 10_000, R.PASTE_TOO_LONG),
        ("ingest " + "x" * 3000, R.TOO_LONG),
    ],
)
def test_ingest_errors(text, reason):
    assert reason_of(text) is reason


# --- moderator commands ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("approve E7", Approve(7, None)),
        ("approve e7", Approve(7, None)),
        ("APPROVE #7", Approve(7, None)),
        ("Approve 7", Approve(7, None)),
        *[(f"approve E7 {tier.upper()}", Approve(7, tier)) for tier in TIERS],
        ("approve  E7   human.", Approve(7, "human")),
        ("reject E7 duplicate of E3", Reject(7, "duplicate of E3")),
        ("Reject #7  not a source\nsee E3", Reject(7, "not a source\nsee E3")),
        ("pending", Pending(None)),
        ("PENDING  ", Pending(None)),
        ("pending Semax", Pending("semax")),
        ("pending BPC 157", Pending("bpc-157")),
        ("show E7", Show(7)),
        ("Show 7", Show(7)),
        ("show #7", Show(7)),
    ],
)
def test_moderator_commands(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("approve", R.BAD_EVIDENCE_ID),
        ("approve X7", R.BAD_EVIDENCE_ID),
        ("approve E0", R.BAD_EVIDENCE_ID),
        ("approve E99999999999", R.BAD_EVIDENCE_ID),
        ("approve E7 clinical", R.BAD_TIER),
        ("approve E7 human please", R.BAD_TIER),
        ("reject", R.BAD_EVIDENCE_ID),
        ("reject because", R.BAD_EVIDENCE_ID),
        ("reject E7", R.MISSING_REASON),
        ("reject E7 " + "r" * (MAX_QUESTION + 1), R.TOO_LONG),
        ("show", R.BAD_EVIDENCE_ID),
        ("show me semax", R.BAD_EVIDENCE_ID),
        ("show E7 E8", R.BAD_EVIDENCE_ID),
        ("pending ???", R.BAD_SLUG),
    ],
)
def test_moderator_errors(text, reason):
    assert reason_of(text) is reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("approve E7|why", Ask("approve-e7", "why")),
        ("approved", ArticleInfo("approved")),
        ("showE7", ArticleInfo("showe7")),
    ],
)
def test_moderator_words_need_exact_first_word_and_no_pipe(text, expected):
    assert parse(text) == expected


# --- unknown reasons and hints --------------------------------------------------------------

ONE_PER_REASON = {
    R.EMPTY: "",
    R.NO_PIPE: "what is semax?",
    R.BAD_SLUG: "!!!|question",
    R.BAD_NODE_ID: "ingest semax|node|paste",
    R.EMPTY_QUESTION: "|",
    R.EMPTY_PASTE: "ingest q:1|",
    R.QUESTION_TOO_LONG: "semax|" + "q" * 501,
    R.PASTE_TOO_LONG: "ingest q:1|" + "p" * 1601,
    R.BAD_EVIDENCE_ID: "show E",
    R.BAD_TIER: "approve E1 gold",
    R.MISSING_REASON: "reject E1",
    R.TOO_LONG: "z" * 1801,
    R.INGEST_USAGE: "ingest",
}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ingest", R.INGEST_USAGE),
        ("INGEST.", R.INGEST_USAGE),
        ("semax||", R.EMPTY_QUESTION),
        ("semax|...", R.EMPTY_QUESTION),
        ("semax| | |", R.EMPTY_QUESTION),
        ("|?", R.EMPTY_QUESTION),
        ("||", R.EMPTY_QUESTION),
    ],
)
def test_no_question_is_saved_from_punctuation_alone(text, reason):
    """ "semax||" once saved a public question node "|"; "ingest" alone found no article."""
    assert reason_of(text) is reason


@pytest.mark.parametrize("reason", list(R))
def test_every_reason_is_produced_and_has_a_hint(reason):
    assert reason_of(ONE_PER_REASON[reason]) is reason
    hint = reason.hint
    assert hint == UNKNOWN_HINTS[reason]
    assert 0 < len(hint) < 160
    assert set(hint) <= GSM7_BASIC | GSM7_EXTENDED, set(hint) - GSM7_BASIC - GSM7_EXTENDED


def test_no_pipe_hint_shows_an_example():
    assert '"semax|does it raise BDNF in people?"' in R.NO_PIPE.hint


# --- canonical ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "text"),
    [
        (Ask("semax", "a|b"), "semax|a|b"),
        (ArticleInfo("semax"), "semax"),
        (ArticleInfo("stop"), "stop|"),
        (ArticleInfo("pending"), "pending|"),
        (Ingest("semax", 12, "p|q"), "ingest semax|q:12|p|q"),
        (Ingest(None, 12, "p"), "ingest q:12|p"),
        (Stop(), "STOP"),
        (Start(), "START"),
        (Help(), "HELP"),
        (More(), "MORE"),
        (FollowUp("why?"), "|why?"),
        (Approve(7, None), "approve E7"),
        (Approve(7, "human"), "approve E7 human"),
        (Reject(7, "dup"), "reject E7 dup"),
        (Pending(None), "pending"),
        (Pending("semax"), "pending semax"),
        (Show(7), "show E7"),
        (Unknown(R.NO_PIPE, "hello there"), "hello there"),
    ],
)
def test_canonical(command, text):
    assert canonical(command) == text
    if not isinstance(command, Unknown):
        assert parse(text) == command


def test_canonical_rejects_non_commands():
    with pytest.raises(TypeError):
        canonical("semax")


def test_commands_are_frozen_value_objects():
    ask = Ask("semax", "q")
    with pytest.raises(AttributeError):
        ask.slug = "other"
    assert ask == Ask("semax", "q")
    assert hash(ask) == hash(Ask("semax", "q"))
