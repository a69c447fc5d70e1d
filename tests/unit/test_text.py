"""Cleaning and sentence segmentation: furniture out, byline kept aside, exact offsets."""

import pytest

from qa.text.clean import clean, is_byline, is_furniture
from qa.text.sentences import split
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
