"""Time in questions (qa.retrieve.time): each phrase form read relative to a fixed as-of date,
the question left for retrieval, event dates of sentences, and the outlets and days a question
about the order of reports names (qa.answer.reports)."""

from datetime import date

import pytest

from qa.answer.reports import is_order_question, mentions
from qa.retrieve.time import event_date, named_days, understand

AS_OF = date(2024, 5, 15)  # a Wednesday


@pytest.mark.parametrize(
    ("question", "since", "until", "text"),
    [
        ("What happened in Gaza this week?", date(2024, 5, 13), AS_OF, "What happened in Gaza?"),
        ("What happened in Gaza last week?", date(2024, 5, 6), date(2024, 5, 12),
         "What happened in Gaza?"),
        ("News about Tesla last month", date(2024, 4, 1), date(2024, 4, 30), "News about Tesla"),
        ("What did Apple announce in March 2024?", date(2024, 3, 1), date(2024, 3, 31),
         "What did Apple announce?"),
        ("What has the council decided since June?", date(2023, 6, 1), AS_OF,
         "What has the council decided?"),
        ("What did the minister say before 3 May 2024?", None, date(2024, 5, 2),
         "What did the minister say?"),
        ("What did the minister say after 3 May 2024?", date(2024, 5, 4), AS_OF,
         "What did the minister say?"),
        ("What happened yesterday in Paris?", date(2024, 5, 14), date(2024, 5, 14),
         "What happened in Paris?"),
        ("What happened on 3 May?", date(2024, 5, 3), date(2024, 5, 3), "What happened?"),
        ("Who won the vote in 2023?", date(2023, 1, 1), date(2023, 12, 31), "Who won the vote?"),
        ("What changed in the past two weeks?", date(2024, 5, 2), AS_OF, "What changed?"),
        ("What was decided by 2023-10-04?", None, date(2023, 10, 4), "What was decided?"),
        ("What happened after the election on 5 November 2023?", date(2023, 11, 6), AS_OF,
         "What happened after the election?"),
    ],
)
def test_phrases_become_windows(question: str, since: date | None, until: date | None, text: str) -> None:
    t = understand(question, AS_OF)
    assert (t.since, t.until) == (since, until)
    assert t.text == text
    assert t.temporal and not t.recency


@pytest.mark.parametrize("cue", ["latest", "most recent", "newest", "recent developments"])
def test_recency_cues(cue: str) -> None:
    t = understand(f"What is the {cue} news on the harbor bridge?", AS_OF)
    assert t.recency and not t.window
    assert cue not in t.text.lower() and "harbor bridge" in t.text


@pytest.mark.parametrize(
    "question",
    [
        "Who is the second person to walk on the moon?",
        "Was the Echelon on sale for Black Friday at 20% off?",  # "Friday", "20%": not dates
        "Tell me about Now, the magazine",
        "Which men recently escaped from jail?",  # "recently" describes; it asks a fact
        "Pope Francis may consider what?",  # the verb, not the month
        "What is the capital of France?",
    ],
)
def test_no_time_no_window(question: str) -> None:
    t = understand(question, AS_OF)
    assert not t.window and not t.recency and t.text == " ".join(question.split())


def test_several_dates_span_a_window() -> None:
    t = understand("Between the report published on November 6, 2023, and the one from "
                   "November 15, 2023, did the story change?", AS_OF)
    assert t.since == date(2023, 11, 6)
    assert t.until is not None and t.until >= date(2023, 11, 15)


def test_as_of_moves_relative_phrases() -> None:
    assert understand("What happened last week?", date(2023, 1, 4)).since == date(2022, 12, 26)
    assert understand("What happened since June?", date(2023, 1, 4)).since == date(2022, 6, 1)


def test_event_date_from_the_sentence_else_publication() -> None:
    published = date(2024, 5, 16)  # a Thursday
    assert event_date("On Tuesday, the company said it would cut jobs.", published)[0] == date(2024, 5, 14)
    got = event_date("The vote took place on 3 March 2024.", published)
    assert got == (date(2024, 3, 3), "on 3 March 2024")
    assert event_date("The company said it would cut jobs.", published) == (published, None)
    # A date after publication is a plan, not the event's day.
    assert event_date("The bridge will reopen on 1 June 2024.", published)[0] == published


def test_named_days_in_order() -> None:
    q = "Between the article published on 2023-10-02 and the one from November 5, 2023, what changed?"
    assert [d for _, _, d in named_days(q)] == [date(2023, 10, 2), date(2023, 11, 5)]


def test_outlets_named_and_order_questions() -> None:
    cnbc = "Cnbc | World Business News Leader"
    sources = ["TechCrunch", "The Verge", "The Independent - Life and Style", cnbc]
    q = "Did The Verge report the launch before TechCrunch and The Independent covered it?"
    named = mentions(q, sources)
    assert [m.sources for m in named] == [["The Verge"], ["TechCrunch"], ["The Independent - Life and Style"]]
    assert is_order_question(q, named)
    assert [m.sources for m in mentions("What did CNBC say?", sources)] == [[cnbc]]
    who = "Who, before the FTX collapse, was praised by The Verge and TechCrunch?"
    assert not is_order_question(who, mentions(who, sources))  # a fact, not an order of reports


def test_timeline_html_escapes_and_shows_every_report() -> None:
    from qa.types import Citation, Timeline, TimelineEvent
    from qa.web.timeline import timeline_html

    cite = [Citation(n=i, doc_id=f"d{i}", title="<b>t</b>", source=src, published_at=day,
                     sentence_id=f"d{i}#0", start=0, end=5, text="x")
            for i, (src, day) in enumerate([("Post <x>", "2024-03-05"), ("Star", "2024-03-06")], 1)]
    t = Timeline(query="q", events=[TimelineEvent(date="2024-03-05", text="<script>bad</script>",
                                                  citations=cite, sources=["Post <x>", "Star"])])
    page = timeline_html(t)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "Post &lt;x&gt;, 2024-03-05" in page and "Star, 2024-03-06" in page
    assert "No dated events" in timeline_html(Timeline(query="q"))


def test_event_date_of_an_undated_article_needs_a_year() -> None:
    # No publication date: "Monday, September 11" has no year to be read in (today's would be a
    # guess), while a date with its year stands alone.
    assert event_date("Drills began on Monday, September 11, officials said.", None) == (None, None)
    assert event_date("Drills opened on Monday, the ministry said.", None) == (None, None)
    assert event_date("The vote took place on 3 March 2024.", None)[0] == date(2024, 3, 3)
