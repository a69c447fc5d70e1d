"""Cleaning and sentence segmentation: furniture out, byline kept aside, exact offsets; dates,
invisible characters and text made safe for a terminal."""

import pytest

from qa.text.clean import clean, is_byline, is_furniture, normalize
from qa.text.dates import day_number, normalize_date
from qa.text.sentences import split
from qa.text.terminal import plain, printable
from tests.support.paths import SEED

pytestmark = pytest.mark.unit


def test_seed_furniture_dropped_and_byline_kept_aside() -> None:
    cleaned = clean(SEED.read_text())
    assert cleaned.byline == "Khalil Wakim, with AFP"
    assert cleaned.dropped == [
        "Subscribe to our newsletter",
        "Newsletter signup",
        "Please wait...",
        "Thank you for sign up!",
    ]
    assert "Khalil Wakim" not in cleaned.text
    assert "Please wait" not in cleaned.text
    assert cleaned.text.endswith("was a “strategic mistake”.")


@pytest.mark.parametrize("line", ["By Jane Doe and John Roe", "Reuters", "— AFP", "Jane Doe, CNN"])
def test_bylines(line: str) -> None:
    assert is_byline(line)


@pytest.mark.parametrize(
    "line",
    [
        "The ministry said it would act.",
        "He signed up for the army in 1990 and served for years.",
        "Russia said the newsletter of the ministry was published on Monday in Moscow.",
    ],
)
def test_real_sentences_are_not_furniture_or_bylines(line: str) -> None:
    assert not is_furniture(line)
    assert not is_byline(line)


def test_short_article_with_newsletter_word_is_kept() -> None:
    text = "The newsletter was banned by the government on Monday after a long dispute over it."
    assert clean(text).text == text


def test_segmenter_handles_abbreviations_quotes_and_numbers() -> None:
    text = (
        "Russia deployed 2,000 peacekeepers to the corridor. Mr. Smith said “it is fine.” "
        'Then U.S. forces left at 3 p.m. on Monday. He said: "Go." Another one.'
    )
    got = [text[s:e] for s, e in split(text)]
    assert got == [
        "Russia deployed 2,000 peacekeepers to the corridor.",
        "Mr. Smith said “it is fine.”",
        "Then U.S. forces left at 3 p.m. on Monday.",
        'He said: "Go."',
        "Another one.",
    ]


def test_offsets_point_into_text_and_never_cross_paragraphs() -> None:
    text = clean(SEED.read_text()).text
    spans = split(text)
    assert len(spans) == 13
    for s, e in spans:
        assert text[s:e] == text[s:e].strip() and "\n\n" not in text[s:e]
    assert text[spans[9][0] : spans[9][1]].startswith("Russia brokered a ceasefire and deployed 2,000")


def test_long_line_without_punctuation_is_cut_into_windows() -> None:
    text = " ".join(["word"] * 50_000)
    spans = split(text)
    assert len(spans) > 10
    assert all(e - s <= 4000 for s, e in spans)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)


# --- dates, invisible characters, terminal text --------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2023-09-11", "2023-09-11"),
        (" 2023-09-11 ", "2023-09-11"),
        ("2023-09-11T08:30:00Z", "2023-09-11T08:30:00+00:00"),
        ("2023-09-11T08:30:00+02:00", "2023-09-11T08:30:00+02:00"),
        ("2023-09-11 08:30", "2023-09-11T08:30:00"),
        ("2023-09-11T08:30:00.5-05:00", "2023-09-11T08:30:00.500000-05:00"),
    ],
)
def test_iso_dates_are_normalized(given: str, stored: str) -> None:
    assert normalize_date(given) == stored
    assert day_number(stored) == day_number("2023-09-11")  # every one is filterable by its day


@pytest.mark.parametrize(
    "given", ["yesterday", "2023-02-30", "<script>alert(1)</script>", "11/09/2023", "2023-09-11T25:00", ""]
)
def test_anything_else_is_not_a_date(given: str) -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 date or datetime"):
        normalize_date(given)


def test_emoji_sequences_survive_and_invisible_characters_go() -> None:
    scotland = "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    kept = f"Dev 👩\u200d💻, ❤\ufe0f, 👍🏽, 1\ufe0f\u20e3, flag {scotland}"
    persian = "می\u200cخواهم"  # the non-joiner is part of the word
    noisy = "soft\u00adhyphen zero\u200bwidth word\u2060joiner \ufeffbom nul\x00x \u202ertl\u202c"
    assert normalize(kept) == kept and normalize(persian) == persian
    assert normalize(noisy) == "softhyphen zerowidth wordjoiner bom nulx rtl"
    assert normalize("newer \U0001fae8 emoji") == "newer \U0001fae8 emoji"  # unassigned in old Unicode
    assert normalize("private \ue000 use \uffff end") == "private use end"


def test_printable_shows_text_as_written_without_controls() -> None:
    hostile = "[/red] [bold red]x\x1b[2J\x9b31m\x07 \u202eevil\ud800 👩\u200d💻\nnext\tcol"
    shown = printable(hostile)
    assert shown == "[/red] [bold red]x\ufffd[2J\ufffd31m\ufffd \ufffdevil\ufffd 👩\u200d💻\nnext\tcol"
    assert printable("a\nb\tc", one_line=True) == "a b c"
    assert printable(None) == "" and printable(3) == "3"
    assert plain(hostile).plain == shown  # a Rich Text: never parsed as markup
