"""The offline answer's text: cited sentences with their markers, and the articles' dates only
when a question about time gets reports of several days."""

import pytest

from qa.answer.extractive import extractive_answer, extractive_pieces
from qa.types import Evidence, Sentence

pytestmark = pytest.mark.unit


def _ev(doc_id: str, index: int, text: str, day: str) -> Evidence:
    s = Sentence(sentence_id=f"{doc_id}#{index}", doc_id=doc_id, index=index, start=0,
                 end=len(text), text=text)
    return Evidence(sentence=s, title=doc_id, source="Wire", published_at=day)


EVIDENCE = [
    _ev("a", 0, "Argentina won the final on penalties.", "2022-12-18"),
    _ev("b", 3, "Messi lifted the trophy.", "2022-12-19"),
]


def test_an_answer_not_about_time_is_the_sentences_and_markers_only() -> None:
    answer = extractive_answer("Who won the final?", EVIDENCE)
    assert answer.answer == "Argentina won the final on penalties. [1] Messi lifted the trophy. [2]"
    assert "".join(extractive_pieces(answer)) == answer.answer


def test_reports_of_several_days_say_so_and_give_each_sentence_its_date() -> None:
    answer = extractive_answer("What happened at the final last week?", EVIDENCE, by_date="newest")
    assert answer.answer == (
        "Reports from 2022-12-18 to 2022-12-19, newest first: Messi lifted the trophy. [1] "
        "(2022-12-19) Argentina won the final on penalties. [2] (2022-12-18)"
    )
    assert "".join(extractive_pieces(answer)) == answer.answer
