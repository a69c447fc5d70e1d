"""Retrieval over a real Chroma with the fake embedder: filters, lexical cache, near-duplicates."""

from datetime import date

import pytest

from qa.retrieve.lexical import LexicalIndex
from qa.types import Article

pytestmark = pytest.mark.unit

ARTICLES = [
    Article(
        doc_id="afp-1",
        title="Drills",
        source="AFP",
        published_at="2023-09-11",
        text="Armenia and the United States began joint drills on Monday.",
    ),
    Article(
        doc_id="rt-1",
        title="Kremlin",
        source="Reuters",
        published_at="2023-09-12",
        text="The Kremlin said the joint drills with Armenia required deep analysis.",
    ),
    Article(
        doc_id="bbc-1",
        title="Football",
        source="BBC",
        published_at="2022-12-18",
        text="Argentina won the World Cup final in Qatar after penalties.",
    ),
]


@pytest.fixture
def qa(make_qa, fake_embedder):  # noqa: ANN001, ANN201
    service = make_qa(fake_embedder)
    service.ingest_articles(ARTICLES)
    return service


def test_source_and_date_filters(qa) -> None:  # noqa: ANN001
    q = "joint drills Armenia"
    assert {c.doc_id for c in qa.ask(q, sources=["Reuters"]).citations} == {"rt-1"}
    assert {c.doc_id for c in qa.ask(q, since=date(2023, 9, 12)).citations} == {"rt-1"}
    assert {c.doc_id for c in qa.ask(q, until=date(2023, 9, 11)).citations} == {"afp-1"}
    r = qa.retrieve(q, sources=["BBC"])
    assert all(e.sentence.doc_id == "bbc-1" for e in r.candidates)


def test_citations_carry_metadata_and_offsets(qa) -> None:  # noqa: ANN001
    a = qa.ask("Who won the World Cup final?")
    c = a.citations[0]
    assert (c.doc_id, c.title, c.source, c.published_at, c.sentence_id) == (
        "bbc-1",
        "Football",
        "BBC",
        "2022-12-18",
        "bbc-1#0",
    )
    assert qa.get("bbc-1").text[c.start : c.end] == c.text
    assert "[1]" in a.answer and not a.abstained


def test_lexical_cache_is_rebuilt_when_stale_or_deleted(qa, tmp_path) -> None:  # noqa: ANN001
    qa.ask("World Cup")
    cache = qa.lexical.path
    assert cache.exists()
    qa.ingest_articles(
        [
            Article(
                doc_id="new", title="N", source="X", text="Penguins migrate across Antarctica every winter."
            )
        ]
    )
    assert qa.ask("penguins Antarctica").citations[0].doc_id == "new"
    for f in cache.parent.glob(cache.name + "*"):
        f.unlink()
    qa.lexical = LexicalIndex(cache)  # as a new process would start
    assert qa.ask("penguins Antarctica").citations[0].doc_id == "new"


def test_near_duplicates_never_cited_twice(make_qa, fake_embedder) -> None:  # noqa: ANN001
    qa = make_qa(fake_embedder)
    qa.ingest_articles(
        [
            Article(
                doc_id="d",
                title="T",
                text=(
                    "Joint military drills between Armenian and US forces opened on Monday.\n\n"
                    "Joint military drills between Armenian and US forces opened on Monday in Yerevan.\n\n"
                    "Russia criticised the drills."
                ),
            )
        ]
    )
    cited = [c.text for c in qa.ask("When did joint military drills open?").citations]
    assert sum(t.startswith("Joint military drills") for t in cited) == 1


def test_unrelated_question_abstains_with_related_sentences(qa) -> None:  # noqa: ANN001
    a = qa.ask("What is the boiling point of mercury in kelvin?")
    assert a.abstained and a.answer == "The articles do not answer this." and not a.citations


def test_lexical_search_ignores_the_words_that_make_a_question(make_qa, fake_embedder) -> None:  # noqa: ANN001
    # In a small library "what" is as rare as a name: it must not rank a sentence that only
    # shares it ("over what it sees as") above the one that names the person asked about.
    service = make_qa(fake_embedder)
    service.ingest_articles(
        [
            Article(
                doc_id="a",
                title="Drills",
                source="AFP",
                text=(
                    "The exercises come amid frustration over what it sees as a failure. "
                    "Kremlin spokesman Dmitry Peskov said the decision required deep analysis "
                    "of the drills and of the alliance and of the region."
                ),
            )
        ]
    )
    service.lexical.ensure(service.store)  # built at the first question, as a service does
    hits = service.lexical.search("What did Peskov say?", 5)
    assert [key for key, _ in hits] == [("a", 1)]
    # A question made only of such words is still searched by them.
    assert service.lexical.query_tokens("What did they say?") != []
    assert service.lexical.search("What is it?", 5)[0][0] == ("a", 0)
