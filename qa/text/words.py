"""Words: the stop lists and word sets the stages compare texts with, in one place.

Each stage keeps its own list on purpose: retrieval drops the reporting verbs every news
question uses ("said", "report"), the claim check drops most English function words and cuts
words to a stem, the summary selector compares longer words only, title links must not treat
function words as names, and a follow-up question's topic skips question words. Each list was
tuned with the stage that uses it (eval/CALIBRATION.md); merging them would move those figures.
"""

from __future__ import annotations

import re

WORD = re.compile(r"\w+", re.U)

# --- retrieval: lexical terms of questions and sentences ---------------------------------------

QUERY_STOP = frozenset(
    """a an the of in on at to for from by with and or but is are was were be been being do does
    did what which who whom whose when where why how that this these those it its as into about
    than then there their they them he she his her him we our you your i me my not no yes has
    have had will would can could should may might must also any all some such other both either
    s t article articles according report reported say says said much many""".split()
)


def content_words(text: str) -> set[str]:
    """The words of a question or sentence that carry its topic, for lexical matching."""
    return {w for w in WORD.findall(text.lower()) if w not in QUERY_STOP and len(w) > 1}


# --- the claim check: stemmed content words of a claim and its sources -----------------------

CLAIM_STOP = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each either few for
    from further had has have having he her here hers herself him himself his how i if in into is
    it its itself just least less many may me might more most much must my myself neither no nor
    not now of off on once one only or other our ours ourselves out over own per same several
    shall she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up upon us very was we were what when where whether
    which while who whom whose why will with within without would yet you your yours yourself
    according said says say also however although though including known called""".split()
)
CLAIM_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)*")


def claim_words(text: str) -> set[str]:
    """Stemmed content words of `text`: lower case, stop words out, numbers kept exact."""
    out: set[str] = set()
    for w in CLAIM_WORD.findall(text.lower()):
        if w[0].isdigit():
            out.add(w.replace(",", ""))
            continue
        w = re.sub(r"['’]s$", "", w)
        if w in CLAIM_STOP or len(w) < 2:
            continue
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]  # "votes" meets "vote" before the prefix cut
        out.add(w[:5])
    return out


# --- summaries: telling chosen sentences apart -------------------------------------------------

SUMMARY_WORD = re.compile(r"[a-z0-9]+")
SUMMARY_STOP = frozenset(
    "the a an and or but of to in on at for with by from as is was were are be been has have had "
    "he she it they his her its their this that who which will would said says not than".split()
)


def summary_words(text: str) -> set[str]:
    """Longer content words, for telling summary sentences apart."""
    return {w for w in SUMMARY_WORD.findall(text.lower()) if w not in SUMMARY_STOP and len(w) > 2}


# --- title links and follow-up questions -----------------------------------------------------

TITLE_FUNCTION_WORDS = frozenset(
    "a an the of in on at to for from by with and or is are was were be it its this that".split()
)
QUESTION_WORDS = frozenset(
    "what who whom whose when where why how which is are was were do does did can could will "
    "would should has have had and or but the a an in on of for to at by from with".split()
)


def topic_words(question: str) -> list[str]:
    """The first few words of a question that say what it is about, in order."""
    words = re.findall(r"[\w'’-]+", question)
    return [w for w in words if w.lower() not in QUESTION_WORDS and len(w) > 2][:6]
