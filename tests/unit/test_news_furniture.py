"""Furniture glued into running text (CNN/DailyMail pages): cut at ingest, never chosen for a
summary; ordinary sentences untouched."""

from __future__ import annotations

import numpy as np
import pytest

from qa.summarize.select import candidate_indices, ends_sentence, select_sentences
from qa.text.clean import clean
from qa.text.sentences import split

pytestmark = pytest.mark.unit


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split(text)]


def test_scroll_down_for_video_is_cut_out_of_the_paragraph() -> None:
    text = (
        "The monkey was found in the forests of Tibet in 2014. Scroll down for video The "
        "white-cheeked macaque was told apart by researchers with camera traps."
    )
    cleaned = clean(text)
    assert cleaned.text == (
        "The monkey was found in the forests of Tibet in 2014. The white-cheeked macaque was "
        "told apart by researchers with camera traps."
    )
    assert cleaned.dropped == ["Scroll down for video"]
    assert sentences(cleaned.text)[1].startswith("The white-cheeked macaque")


def test_prose_about_scrolling_is_kept() -> None:
    text = "Readers can scroll down for videos of the parade, the organisers said on Monday."
    assert clean(text).text == text
    assert clean(text).dropped == []


def test_a_caption_glued_to_the_lead_is_split_off() -> None:
    text = (
        "Prisoner Carlos Boente (pictured) was jailed for five years after he was found guilty of "
        "a phone possession charge A serving prisoner has been jailed for making a teenager's "
        "life a misery. Police said he had received her number from a cellmate."
    )
    got = sentences(text)
    assert got == [
        "Prisoner Carlos Boente (pictured) was jailed for five years after he was found guilty "
        "of a phone possession charge",
        "A serving prisoner has been jailed for making a teenager's life a misery.",
        "Police said he had received her number from a cellmate.",
    ]
    # spans stay exact offsets into the text
    for (s, e), piece in zip(split(text), got, strict=True):
        assert text[s:e] == piece


def test_caption_after_a_bracket_or_quote_is_split_off() -> None:
    text = (
        "A 20-year-old tourist said she was molested by a taxi driver in Jaipur (pictured posed "
        "by model) A taxi driver in India has been arrested after the complaint."
    )
    assert len(sentences(text)) == 2


@pytest.mark.parametrize(
    "text",
    [
        "He told The Sun that the club would appeal against the ban on Monday.",
        "Patients with low vitamin A levels were more likely to fall ill, the study found.",
        "The researchers showed the images A and B to every volunteer in the trial.",
        "She starred in The Crown before she joined the cast of the new drama series.",
        "The minister said the plan was sound and that the vote would go ahead as planned.",
        "Fans of The Beatles gathered outside the studio where the band recorded in 1969.",
    ],
)
def test_ordinary_sentences_are_not_split(text: str) -> None:
    assert sentences(text) == [text]


def test_pieces_without_a_stop_are_candidates_only_when_nothing_else_is() -> None:
    caption = "Prisoner Carlos Boente was jailed for five years after a phone possession charge"
    lead = "A serving prisoner has been jailed for making a teenager's life a misery."
    assert not ends_sentence(caption)
    assert ends_sentence(lead) and ends_sentence("He said: 'It is over.'")
    assert candidate_indices([caption, lead]) == [1]
    assert candidate_indices([caption]) == [0]


def test_a_glued_caption_is_not_chosen_for_the_summary() -> None:
    caption = "Prisoner Carlos Boente was jailed for five years after a phone possession charge"
    body = [
        f"Officials{t} " + " ".join(f"item{t}n{j}" for j in range(14)) + "." for t in range(12)
    ]
    vectors = np.random.default_rng(0).normal(size=(13, 64))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chosen = select_sentences([caption, *body], vectors, [0] * 13, list(range(13)))
    assert chosen and 0 not in chosen
    # an article of captions alone still gets a summary
    assert select_sentences([caption], vectors[:1], [0], [0]) == [0]


@pytest.mark.parametrize(
    ("text", "dateline"),
    [
        ("New Delhi, India (CNN)As the earth shook in Nepal, tremors were felt.", "New Delhi, India (CNN)"),
        ("LONDON, England (CNN) -- The queen opened the session on Monday.", "LONDON, England (CNN) --"),
        ("WASHINGTON (AP) — The Senate voted on the bill late on Friday.", "WASHINGTON (AP) —"),
        ("(CNN)ESPN's reporter was suspended for a week.", "(CNN)"),
        ("(Reuters) - Oil prices rose for a third day.", "(Reuters) -"),
    ],
)
def test_an_agency_dateline_glued_to_the_lead_is_cut(text: str, dateline: str) -> None:
    cleaned = clean(text + "\n\nA second paragraph (AP) follows.")
    assert cleaned.dropped == [dateline]
    assert cleaned.text == text[len(dateline) :].lstrip() + "\n\nA second paragraph (AP) follows."
    first = sentences(cleaned.text)[0]
    assert first[0].isupper() and "(" not in first


@pytest.mark.parametrize(
    "text",
    [
        "Apple (AAPL) shares rose on Monday after the results.",
        "The report (AP) said the vote would go ahead.",
        "Officials told CNN (CNN) that the plan was sound.",
    ],
)
def test_an_agency_named_in_prose_is_kept(text: str) -> None:
    assert clean(text).text == text
    assert clean(text).dropped == []


def test_a_dateline_after_a_byline_is_cut_and_only_at_the_top() -> None:
    cleaned = clean(
        "By Jane Doe\n\nYEREVAN (AFP) - Armenia is drifting.\n\nPARIS (AFP) - A later line stays."
    )
    assert cleaned.byline == "By Jane Doe"
    assert cleaned.text == "Armenia is drifting.\n\nPARIS (AFP) - A later line stays."
