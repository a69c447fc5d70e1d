"""A question asked as of a day prefers the articles published in the days before it
(`Settings.recent_bonus`), as a preference of what to cite: whether the library answers does
not change. Real model, real embedded Chroma."""

from datetime import date

import pytest

from qa.types import Article

pytestmark = pytest.mark.integration

ARTICLES = [
    Article(doc_id="final-2023", title="Rivertown win the regional cup", source="Daily Post",
            published_at="2024-02-04",
            text="Rivertown won the regional cup final on Sunday, beating Lakeside 2-1 in front "
                 "of a record crowd. The winning goal came in the last minute."),
    Article(doc_id="final-2024", title="Hillford take the cup on penalties", source="City Times",
            published_at="2024-05-12",
            text="Hillford lifted the trophy after a penalty shoot-out against Rivertown. The "
                 "match ended goalless after extra time."),
    Article(doc_id="library", title="Library extends hours", source="City Times",
            published_at="2024-05-11",
            text="The central library will stay open until 9 pm on weekdays. Readers asked for "
                 "longer hours in a survey."),
]
QUESTION = "Who won the regional cup final?"


@pytest.fixture
def library(embedder, make_qa):  # noqa: ANN001, ANN201
    def make(bonus: float):  # noqa: ANN202
        qa = make_qa(embedder, recent_bonus=bonus, recent_days=7)
        qa.ingest_articles(ARTICLES)
        return qa

    return make


def cited_docs(qa, as_of: date) -> set[str]:  # noqa: ANN001
    return {c.doc_id for c in qa.ask(QUESTION, as_of=as_of).citations}


def test_the_news_of_the_week_is_cited(library) -> None:  # noqa: ANN001
    plain, preferring = library(0.0), library(0.3)
    # On wording alone only the older report is cited ("won the regional cup final").
    assert cited_docs(plain, date(2024, 5, 15)) == {"final-2023"}
    assert cited_docs(preferring, date(2024, 5, 15)) == {"final-2023", "final-2024"}
    # A month later the 2024 final is no longer recent news: wording decides again.
    assert cited_docs(preferring, date(2024, 6, 20)) == {"final-2023"}


def test_the_preference_does_not_decide_whether_the_library_answers(library) -> None:  # noqa: ANN001
    plain, preferring = library(0.0), library(0.3)
    for question in (QUESTION, "How many people work at the city library?"):
        a, b = plain.ask(question, as_of=date(2024, 5, 15)), preferring.ask(question, as_of=date(2024, 5, 15))
        assert a.confidence == b.confidence and a.abstained == b.abstained


def test_published_between_finds_the_days_articles() -> None:
    from qa.store.catalog import ArticleMeta, Catalog
    from qa.text.dates import day_number

    def meta(doc_id: str, day: str | None) -> ArticleMeta:
        return ArticleMeta(doc_id=doc_id, version="1", title="", source="", published_at=day,
                           published_day=day_number(day), url=None, byline=None,
                           content_hash="", n_sentences=1)

    catalog = Catalog({d: meta(d, day) for d, day in (
        ("a", "2024-05-01"), ("b", "2024-05-08"), ("c", "2024-05-09"), ("d", None),
        ("e", "2024-05-15"), ("f", "2024-05-16"))})
    first, last = day_number("2024-05-08"), day_number("2024-05-15")
    assert first is not None and last is not None
    assert catalog.published_between(first, last) == ["b", "c", "e"]
    assert catalog.published_between(last + 10, last + 20) == []


def test_the_weeks_report_is_searched_for_when_older_ones_crowd_it_out(embedder, make_qa) -> None:  # noqa: ANN001
    old = [Article(doc_id=f"final-{year}", title=f"Cup final {year}", source="Daily Post",
                   published_at=f"{year}-05-10",
                   text=f"Rivertown won the regional cup final in {year}, beating Lakeside. "
                        f"The regional cup final drew a big crowd in {year}.")
           for year in range(2010, 2022)]
    new = Article(doc_id="this-week", title="Hillford lift the trophy", source="City Times",
                  published_at="2024-05-12",
                  text="Hillford lifted the trophy after a penalty shoot-out on Sunday.")
    asked = date(2024, 5, 15)
    found = {}
    for search in (0, 5):
        qa = make_qa(embedder, candidates=4, recent_search=search)
        qa.ingest_articles([*old, new])
        found[search] = {e.sentence.doc_id for e in qa.retrieve(QUESTION, as_of=asked).candidates}
    assert "this-week" not in found[0]  # 24 old sentences match better than any of the week's
    assert "this-week" in found[5]
