"""SMS segment arithmetic and fitting replies into a segment budget."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.messaging.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    _costs,
    fit,
    fit_lines,
    gsm_friendly,
    is_gsm7,
    segments,
)


def test_gsm7_tables():
    assert len(GSM7_BASIC) == 127  # 128 codes less the escape
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("Hello, world! @£$¥ èéùìò Ç Øø Åå Δ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ ¡¿ ÄÖÑÜ§ äöñüà\n\r", True),
        ("{}[]~|^\\€\f", True),
        ("ç", False),  # only the capital Ç is in the table
        ("…", False),
        ("“quoted”", False),
        ("emoji 👍", False),
        ("tab\there", False),
    ],
)
def test_is_gsm7(text, expected):
    assert is_gsm7(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 1),
        ("a", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 459, 3),
        ("a" * 460, 4),
        ("ł" * 70, 1),
        ("ł" * 71, 2),
        ("ł" * 134, 2),
        ("ł" * 135, 3),
        ("a" * 69 + "…", 1),
        ("a" * 70 + "…", 2),  # one non-GSM character puts the whole text in UCS-2
    ],
)
def test_segments(text, expected):
    assert segments(text) == expected


def test_extension_characters_count_double():
    assert segments("{" * 80) == 1
    assert segments("{" * 80 + "a") == 2
    assert segments("a" * 159 + "€") == 2
    assert segments("a" * 158 + "€") == 1


def test_escape_sequence_is_not_split_across_parts():
    assert segments("a" * 152 + "{" + "a" * 151) == 2  # 152 | 2 + 151
    assert segments("a" * 152 + "{" + "a" * 152) == 3  # 306 septets, but '{' can't straddle


def test_emoji_counts_as_two_utf16_units():
    assert segments("😀" * 35) == 1
    assert segments("😀" * 35 + "a") == 2
    assert segments("a" * 69 + "😀") == 2
    assert segments("ł" * 66 + "😀" + "ł" * 66) == 3  # the surrogate pair moves whole


def test_fit_leaves_fitting_text_alone():
    for text in ("", "short", "a" * 459, "ł" * 201):
        assert fit(text) == text
    assert fit("a" * 160, max_segments=1) == "a" * 160


def test_fit_keeps_gsm_text_in_gsm():
    text = "word " * 200
    out = fit(text)
    assert out.endswith("...")
    assert is_gsm7(out)
    assert segments(out) == 3
    assert len(out) > 400  # not flipped to UCS-2, which would allow only 201 chars


def test_fit_cuts_at_a_word_boundary():
    text = " ".join(f"word{i}" for i in range(100))
    out = fit(text, max_segments=1)
    assert out.endswith("...")
    kept = out[:-3]
    assert text.startswith(kept)
    assert text[len(kept)] == " "  # the cut fell between words
    assert segments(out) == 1


def test_fit_cuts_a_long_word_hard():
    out = fit("x" * 1000, max_segments=1)
    assert out == "x" * 157 + "..."


def test_fit_ucs2_text_uses_the_given_ellipsis():
    text = "żółw " * 100
    out = fit(text, max_segments=2)
    assert out.endswith("…")
    assert segments(out) <= 2
    assert text.startswith(out[:-1])


def test_fit_drops_a_non_gsm_tail_and_returns_to_gsm():
    text = "a" * 200 + " 😀" * 100
    out = fit(text, max_segments=2)
    assert out == "a" * 200 + "..."
    assert segments(out) == 2


def test_fit_custom_ellipsis_and_bad_budget():
    out = fit("word " * 100, max_segments=1, ellipsis=" [more]")
    assert out.endswith(" [more]") and segments(out) == 1
    with pytest.raises(ValueError):
        fit("x", max_segments=0)


_ALPHABET = st.sampled_from(
    sorted(GSM7_BASIC)
    + sorted(GSM7_EXTENSION)
    + list("  \n\t…“”łżźćęśπ")
    + ["😀", "👍", "\U0001f3fd", "\u200d", "\U0001f9ea"]
)


@given(text=st.text(alphabet=_ALPHABET, max_size=1200), max_segments=st.integers(1, 5))
@example(text="a" * 159 + "😀", max_segments=1)
@example(text=" " * 500, max_segments=1)
@example(text="{" * 500, max_segments=2)
def test_fit_property(text, max_segments):
    out = fit(text, max_segments=max_segments)
    assert segments(out) <= max_segments
    if segments(text) <= max_segments:
        assert out == text
    else:
        for ellipsis in ("...", "…"):
            if out.endswith(ellipsis) and text.startswith(out[: -len(ellipsis)]):
                break
        else:
            pytest.fail(f"{out!r} is not a prefix of the text plus an ellipsis")
        if is_gsm7(text):
            assert is_gsm7(out)


def test_fit_lines_keeps_everything_that_fits():
    assert fit_lines(["a", "b"], "Reply MORE") == "a\nb\nReply MORE"
    assert fit_lines([], "Reply MORE") == "Reply MORE"
    assert fit_lines(["a", "b"], "") == "a\nb"


def test_fit_lines_drops_whole_lines_from_the_end():
    lines = [f"{i}. " + "x" * 60 for i in range(10)]
    out = fit_lines(lines, "Reply MORE for more", max_segments=1)
    assert out == "\n".join(lines[:2]) + "\nReply MORE for more"
    assert segments(out) == 1


def test_fit_lines_a_non_gsm_line_is_dropped_first():
    lines = ["a" * 100, "b" * 100, "ł"]
    out = fit_lines(lines, "end", max_segments=2)
    assert out == "a" * 100 + "\n" + "b" * 100 + "\nend"


def test_fit_lines_tail_is_always_kept():
    assert fit_lines(["x" * 200], "tail", max_segments=1) == "tail"
    long_tail = "t " * 200
    out = fit_lines(["x"], long_tail, max_segments=1)
    assert segments(out) == 1 and out.startswith("t t")


@given(
    lines=st.lists(st.text(alphabet=_ALPHABET, max_size=200), max_size=12),
    tail=st.text(alphabet=_ALPHABET, min_size=1, max_size=40),
    max_segments=st.integers(1, 4),
)
def test_fit_lines_property(lines, tail, max_segments):
    out = fit_lines(lines, tail, max_segments=max_segments)
    assert segments(out) <= max_segments
    # Parts are compared as sent: typographic look-alikes become GSM-7 first.
    lines, tail = [gsm_friendly(line) for line in lines], gsm_friendly(tail)
    if segments(tail) <= max_segments:
        assert out.endswith(tail)
        kept = out[: -len(tail)]
        assert kept == "" or "\n".join(lines).startswith(kept[:-1])


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.text(alphabet=_ALPHABET, max_size=200), min_size=1, max_size=12),
    tail=st.text(alphabet=_ALPHABET, min_size=1, max_size=40),
    max_segments=st.integers(1, 4),
    keep=st.integers(1, 3),
)
def test_fit_lines_never_drops_the_lines_it_must_keep(lines, tail, max_segments, keep):
    out = fit_lines(lines, tail, max_segments=max_segments, keep=keep)
    assert segments(out) <= max_segments
    lines, tail = [gsm_friendly(line) for line in lines], gsm_friendly(tail)
    must = "\n".join(lines[:keep])
    if segments(must + "\n" + tail) <= max_segments:
        assert out.startswith(must) and out.endswith(tail)


def test_an_em_dash_no_longer_costs_the_summary():
    """`semax` once came back as only its link: one em dash made the reply UCS-2."""
    summary = "Semax: a synthetic peptide — studied for BDNF and stroke recovery " * 3
    out = fit_lines(
        [summary, "Ledger: 55 sources; claims: 5 human"], "link Not medical advice.", 3, 2
    )
    assert out.startswith("Semax: a synthetic peptide - studied") and is_gsm7(out)
    assert "55 sources" in out and out.endswith("Not medical advice.")


def _walked(text: str) -> int:
    """The definition, walked character by character (what ``segments`` shortcuts)."""
    costs, single, multi = _costs(text)
    if sum(costs) <= single:
        return 1
    count, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            count, used = count + 1, 0
        used += cost
    return count


@settings(max_examples=500)
@given(
    st.text(
        alphabet=st.sampled_from([*sorted(GSM7_BASIC | GSM7_EXTENSION), "é", "😀", "ж", "€"]),
        max_size=400,
    )
)
@example("a" * 160)
@example("a" * 159 + "€")
@example("ж" * 70)
@example("ж" * 69 + "😀")
def test_segments_shortcut_matches_the_walk(text):
    assert segments(text) == _walked(text)
