"""A request for a summary typed where a question goes is answered by `summarize`, every
sentence cited, instead of abstaining ("Summarize the article" holds no answer-bearing
sentence). Real model, real embedded Chroma."""

from datetime import date

import pytest

from qa.answer.extractive import ABSTAIN_PHRASE
from qa.types import Article

pytestmark = pytest.mark.integration

ARTICLES = [
    Article(doc_id="cup", title="Rivertown win the regional cup", source="Daily Post",
            published_at="2024-02-04",
            text="Rivertown won the regional cup final on Sunday, beating Lakeside 2-1 in front "
                 "of a record crowd. The winning goal came in the last minute. Fans celebrated "
                 "in the streets until midnight."),
    Article(doc_id="library", title="Library extends hours", source="City Times",
            published_at="2024-05-11",
            text="The central library will stay open until 9 pm on weekdays. Readers asked for "
                 "longer hours in a survey. The council will pay for two more librarians."),
]


@pytest.fixture
def qa(embedder, make_qa):  # noqa: ANN001, ANN201
    service = make_qa(embedder)
    service.ingest_articles(ARTICLES)
    return service


def test_a_topic_is_summarized_from_the_articles_it_finds(qa) -> None:  # noqa: ANN001
    a = qa.ask("Summarize the news about the regional cup final")
    assert not a.abstained and a.retrieved_doc_ids == ["cup"]
    assert a.citations and {c.doc_id for c in a.citations} == {"cup"}
    for c in a.citations:  # each cited sentence is the stored one, at its span
        assert qa.get(c.doc_id).text[c.start : c.end] == c.text
        assert c.text in a.answer
    assert a.answer == qa.summarize(["cup"]).summary


def test_without_a_topic_the_newest_articles_are_summarized(qa) -> None:  # noqa: ANN001
    a = qa.ask("tl;dr")
    assert not a.abstained and a.retrieved_doc_ids[0] == "library"  # newest first
    assert {c.doc_id for c in a.citations} == {"cup", "library"}
    # As of a day before the library story, only the cup final had been published.
    before = qa.ask("Summarize the articles", as_of=date(2024, 3, 1))
    assert {c.doc_id for c in before.citations} == {"cup"}


def test_a_topic_the_library_does_not_cover_abstains(qa) -> None:  # noqa: ANN001
    a = qa.ask("Summarize the news about the Mars rover landing")
    assert a.abstained and a.answer == ABSTAIN_PHRASE and not a.citations


def test_streaming_gives_the_same_answer(qa) -> None:  # noqa: ANN001
    pieces = list(qa.ask_stream("Give me a summary of the library hours"))
    final = pieces[-1]
    assert final.retrieved_doc_ids == ["library"]
    assert "".join(p for p in pieces[:-1] if isinstance(p, str)) == final.answer
