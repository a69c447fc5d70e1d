"""Requests for a summary typed where a question goes ("Summarize the news about Armenia",
"tl;dr"): `ask` answers them with `summarize` instead of searching for a sentence that answers
"summarize" (there is none, so it would abstain).

Written by hand: a few phrasings, read by one pattern, as `qa.stories.compare` reads "How do
outlets differ on X?".
"""

from __future__ import annotations

import re

_REQUEST = re.compile(
    r"^\s*(?:please\s+)?(?:(?:can|could|would)\s+you\s+(?:please\s+)?)?"
    r"(?:summari[sz]e|sum\s+up|recap|"
    r"(?:give|show|write)\s+(?:me\s+|us\s+)?(?:an?\s+)?(?:short\s+|brief\s+|quick\s+)?"
    r"(?:summary|overview|recap|tl;?dr)(?:\s+of)?|"
    r"(?:what\s+is|what's)\s+(?:the\s+)?(?:summary|gist)\s+of|tl;?dr)"
    r"\b[\s:,-]*(?P<rest>.*)$",
    re.I | re.S,
)
# "the article", "these stories", "the news", "everything": the whole library, no topic.
_WHOLE = re.compile(
    r"^(?:(?:the|this|these|those|my|all(?:\s+the)?|every)\s+)?"
    r"(?:articles?|stor(?:y|ies)|news|library|documents?|texts?|pages?|reports?|it|them|"
    r"everything|all)?$",
    re.I,
)
_ABOUT = re.compile(
    r"^(?:(?:the|this|these|those|all(?:\s+the)?)\s+)?"
    r"(?:articles?|stor(?:y|ies)|news|reports?|coverage|documents?)?\s*"
    r"(?:about|on|of|regarding|concerning|covering)\s+(?P<topic>.+)$",
    re.I | re.S,
)
_DAY = re.compile(r"^(?:the\s+)?(?:latest|today's|recent)\s+", re.I)


def summary_topic(question: str) -> str | None:
    """What a summary request asks to summarize: a topic, "" for the whole library (or its one
    article), or None when the text is not a request for a summary."""
    got = _REQUEST.match(question)
    if got is None:
        return None
    rest = got.group("rest").strip().rstrip("?.! ").strip()
    rest = _DAY.sub("", rest)
    if _WHOLE.match(rest):
        return ""
    about = _ABOUT.match(rest)
    topic = about.group("topic") if about else rest
    return topic.strip(" ,:;-").strip()
