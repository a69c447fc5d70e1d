"""Which texts typed as questions ask for a summary, and of what (qa.summarize.request)."""

import pytest

from qa.summarize.request import summary_topic

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Summarize the article", ""),
        ("summarise", ""),
        ("tl;dr", ""),
        ("Sum up the latest news.", ""),
        ("Can you summarize these stories?", ""),
        ("Summarise the news about Armenia and Russia?", "Armenia and Russia"),
        ("Give me a short summary of the drills", "the drills"),
        ("What is the summary of the story about Peskov?", "Peskov"),
        ("recap the coverage of the ceasefire", "the ceasefire"),
        ("summarize Armenia US drills", "Armenia US drills"),
    ],
)
def test_requests_and_their_topic(text: str, topic: str) -> None:
    assert summary_topic(text) == topic


@pytest.mark.parametrize(
    "text",
    [
        "Why is Armenia drifting from Moscow?",
        "Who summarized the report?",
        "What did the summary say about the drills?",
        "summarization methods",
    ],
)
def test_questions_are_not_requests(text: str) -> None:
    assert summary_topic(text) is None
