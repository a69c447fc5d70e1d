"""Filters: a window read from a question keeps the undated articles, dates a caller gives do
not; the Chroma `where` clause says the same."""

from datetime import date

from qa.store.records import where_clause
from qa.text.dates import day_number
from qa.types import Filters

MAY = day_number("2024-05-13")


def test_undated_articles_pass_only_a_lenient_window() -> None:
    strict = Filters(since=date(2024, 5, 13))
    lenient = Filters(since=date(2024, 5, 13), keep_undated=True)
    assert not strict.allows("Post", None)
    assert lenient.allows("Post", None)
    assert MAY is not None
    assert lenient.allows("Post", MAY) and not lenient.allows("Post", MAY - 1)
    # The source filter still holds for an undated article.
    assert not Filters(sources=["Star"], since=date(2024, 5, 13), keep_undated=True).allows("Post", None)


def test_where_clause_names_the_undated_articles() -> None:
    lenient = Filters(sources=["Post"], since=date(2024, 5, 13), until=date(2024, 5, 19),
                      keep_undated=True)
    where = where_clause(lenient, undated=["a", "b"])
    assert where is not None
    source, dates = where["$and"]
    assert source == {"source": {"$in": ["Post"]}}
    dated, undated = dates["$or"]
    assert undated == {"doc_id": {"$in": ["a", "b"]}}
    assert {"day": {"$gte": MAY}} in dated["$and"]
    # Strict filters, or no undated article: the date range alone.
    assert where_clause(Filters(since=date(2024, 5, 13)), undated=["a"]) == {"day": {"$gte": MAY}}
    assert where_clause(Filters(since=date(2024, 5, 13), keep_undated=True)) == {"day": {"$gte": MAY}}
