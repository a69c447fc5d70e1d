"""Story grouping (qa.stories.grouping) and the compare primitives (qa.stories.compare): copies
of one article join one story, distinct articles on the same topic stay apart, adding is
incremental, deletes leave the story, and numbers/dates/names are compared normalised."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.stories.compare import compare_topic, mismatch, values
from qa.stories.copies import also_line, one_per_story, same_sentence
from qa.stories.grouping import StoryIndex, StoryParams
from qa.types import Article

pytestmark = pytest.mark.unit

FLOOD = (
    "Heavy rain caused severe flooding across the northern province on Tuesday, forcing more "
    "than 1,200 residents to leave their homes. Rescue teams used boats to reach villages cut off "
    "by the rising river, and officials said at least 14 people had been injured. The regional "
    "governor declared a state of emergency and asked the national government for help. Schools "
    "in three districts were closed and power was cut to thousands of homes. Forecasters warned "
    "that more rain was expected over the weekend, and the river could rise further before it "
    "peaks on Friday. Farmers said the water had destroyed crops that were almost ready for "
    "harvest, and the agriculture ministry promised to compensate those who lost their fields. "
    "Aid groups set up shelters in sports halls and churches, handing out blankets, food and "
    "drinking water to families who fled with only what they could carry."
)
# Same topic, same province, same words (flooding, river, rain, governor), another article.
FLOOD_OTHER = (
    "A month after the floods that hit the northern province, residents are still waiting for "
    "the compensation the government promised. The governor said the river defences would be "
    "rebuilt before the next rainy season, but engineers warned that the work could take years. "
    "Many families who left their homes during the flooding are living with relatives, and some "
    "schools remain closed because their buildings were damaged by the water. Farmers said they "
    "had received seeds but no money, and the agriculture ministry said payments would begin next "
    "month. Aid groups said the shelters in sports halls had closed, and that blankets and food "
    "were still needed in the villages along the river, where rain fell again this week."
)


def wire_copy(text: str, cut: float = 0.7) -> str:
    """A copy as another outlet runs it: a dateline, the ending cut, a sentence edited, furniture."""
    sents = text.split(". ")
    kept = sents[: max(3, int(len(sents) * cut))]
    kept[1] = kept[1].replace("at least 14", "at least 15")
    return ("LONDON (AFP) - " + ". ".join(kept) + ".\n\nSign up for our newsletter. "
            "Copyright 2024 AFP. All rights reserved.")


def article(doc_id: str, text: str, source: str = "", title: str = "") -> Article:
    return Article(doc_id=doc_id, text=text, source=source, title=title or doc_id,
                   content_hash=str(abs(hash(text))))


@pytest.fixture
def index(tmp_path: Path) -> StoryIndex:
    return StoryIndex(tmp_path / "stories.sqlite", StoryParams())


def test_copies_join_and_same_topic_stays_apart(index: StoryIndex) -> None:
    got = index.add([
        article("orig", FLOOD, "Reuters"),
        article("afp", wire_copy(FLOOD), "AFP"),
        article("f24", wire_copy(FLOOD, cut=0.5), "France 24"),
        article("later", FLOOD_OTHER, "BBC"),
    ])
    assert got["orig"] == got["afp"] == got["f24"]
    assert got["later"] != got["orig"]
    assert [m.doc_id for m in index.copies("orig")] == ["afp", "f24"]
    assert index.copies("later") == []


def test_adding_one_article_keeps_existing_stories(index: StoryIndex, tmp_path: Path) -> None:
    first = index.add([article("orig", FLOOD), article("later", FLOOD_OTHER)])
    # Another process (another StoryIndex on the same file) adds one copy: the stories already
    # there keep their ids, and the first index sees the copy at its next refresh.
    other = StoryIndex(tmp_path / "stories.sqlite", StoryParams())
    added = other.add([article("copy", wire_copy(FLOOD))])
    assert added["copy"] == first["orig"]
    index.refresh()
    assert index.story_of("copy") == first["orig"]
    assert index.story_of("later") == first["later"]


def test_copy_first_then_original(index: StoryIndex) -> None:
    got = index.add([article("copy", wire_copy(FLOOD, cut=0.6)), article("orig", FLOOD)])
    assert got["copy"] == got["orig"]


def test_delete_and_replace(index: StoryIndex) -> None:
    got = index.add([article("orig", FLOOD), article("afp", wire_copy(FLOOD))])
    index.remove(["orig"])
    assert index.story_of("orig") is None
    assert index.story_of("afp") == got["afp"]
    assert index.copies("afp") == []
    # A correction of the copy (same doc id, text changed) stays in its story...
    corrected = "Correction: an earlier version misstated the number injured.\n\n" + wire_copy(FLOOD)
    index.add([article("orig", FLOOD)])
    assert index.add([article("afp", corrected)])["afp"] == index.story_of("orig")
    # ...and a replacement that is another article leaves it.
    assert index.add([article("afp", FLOOD_OTHER)])["afp"] != index.story_of("orig")


def test_reconcile_rebuilds_from_texts(tmp_path: Path) -> None:
    texts = {"orig": FLOOD, "afp": wire_copy(FLOOD), "later": FLOOD_OTHER}
    index = StoryIndex(tmp_path / "s.sqlite")
    changed = index.reconcile({d: str(abs(hash(t))) for d, t in texts.items()},
                              lambda d: article(d, texts[d]))
    assert changed == 3
    assert index.story_of("orig") == index.story_of("afp") != index.story_of("later")
    # The library lost an article: reconcile drops it and adds nothing.
    del texts["later"]
    assert index.reconcile({d: str(abs(hash(t))) for d, t in texts.items()},
                           lambda d: article(d, texts[d])) == 1
    assert index.story_of("later") is None
    # Other signature settings: everything is recomputed.
    again = StoryIndex(tmp_path / "s.sqlite", StoryParams(num_perm=256))
    assert again.reconcile({d: str(abs(hash(t))) for d, t in texts.items()},
                           lambda d: article(d, texts[d])) == 2
    assert again.story_of("orig") == again.story_of("afp")


def test_one_per_story_and_also_line(index: StoryIndex) -> None:
    index.add([article("orig", FLOOD, "Reuters"), article("afp", wire_copy(FLOOD), "AFP"),
               article("later", FLOOD_OTHER, "BBC")])
    assert one_per_story(["afp", "orig", "later", "unknown"], index) == ["afp", "later", "unknown"]
    assert also_line([m.copy() for m in index.copies("orig")]) == "also reported by AFP"
    assert same_sentence("Officials said at least 14 people had been injured.",
                         "Officials said at least 15 people had been injured.")
    assert not same_sentence("Schools were closed.", "The governor declared an emergency.")


def test_values_are_normalised() -> None:
    a = values("About 1,200 people attended on March 3, 2024, said John Smith.")
    b = values("Some 1200 people came on 3 March 2024, John Smith said.")
    assert a == b
    assert values("Five people died and 13 per cent were hurt.").numbers == ("13%", "5")
    assert values("He said 5 people died, 13% hurt.").numbers == ("13%", "5")
    assert values("It cost $2 million.").numbers == values("It cost $2,000,000.").numbers


def test_mismatch_kinds() -> None:
    assert mismatch("At least 14 people were injured.", "At least 15 people were injured.") == (
        "number", ["14"], ["15"])
    assert mismatch("The vote is on March 3.", "The vote is on March 5.")[0] == "date"  # type: ignore[index]
    assert mismatch("The talks were led by John Smith.", "The talks were led by Peter Jones.")[0] == "name"  # type: ignore[index]
    # Formatting and omissions are not conflicts.
    assert mismatch("About 1,200 people fled.", "About 1200 people fled.") is None
    assert mismatch("Five people died.", "5 people died.") is None
    assert mismatch("Joe Biden said 14 were hurt.", "Biden said so.") is None
    assert mismatch("He worked there from 2013-2014.", "He worked there from 2014-2014.") == (
        "number", ["2013"], ["2014"])
    assert mismatch("Prior to the Apple Remote, Apple made remotes.",
                    "Prior to the Ed Wood, Apple made remotes.")[0] == "name"  # type: ignore[index]


def test_compare_questions() -> None:
    assert compare_topic("How do outlets differ on the flood response?") == "the flood response"
    assert compare_topic("Where do the sources disagree about the election result?") == (
        "the election result")
    assert compare_topic("What happened in the flood?") is None


def test_web_shows_copies_and_comparisons() -> None:
    from qa.types import ArticleInfo, Citation, CompareConflict, Comparison, Statement, StoryCopy
    from qa.web.compare import comparison_html
    from qa.web.render import _sources_html, library_html

    cite = Citation(n=1, doc_id="orig", title="Floods", source="Reuters", published_at=None,
                    sentence_id="orig#0", start=0, end=5, text="Heavy rain.",
                    also_reported_by=[StoryCopy(doc_id="afp", source="AFP"),
                                      StoryCopy(doc_id="f24", source="France 24")])
    assert "also reported by AFP, France 24" in _sources_html([cite], "answer", 0, "Sources")
    rows = [ArticleInfo(doc_id=d, title=d, source=s, published_at=None, n_sentences=3, story_id=st)
            for d, s, st in [("afp", "AFP", "s1"), ("later", "BBC", "s2"), ("orig", "Reuters", "s1")]]
    page = library_html(rows, 3)
    assert "same story: Reuters" in page and "same story: AFP" in page
    # Copies of one story sit together.
    assert page.index("data-doc=\"orig\"") < page.index("data-doc=\"later\"")

    def st(doc: str, text: str) -> Statement:
        return Statement(doc_id=doc, source=doc.upper(), sentence_id=f"{doc}#0", start=0,
                         end=len(text), text=text)

    c = Comparison(doc_ids=["a", "b"], sources=["A", "B"], conflicts=[CompareConflict(
        kind="number", statements=[st("a", "14 <b>hurt</b>"), st("b", "17 hurt")],
        values=[["14"], ["17"]])])
    out = comparison_html(c)
    assert "Conflicts (1)" in out and "14 vs 17" in out and "<b>hurt</b>" not in out


def test_short_templated_texts_stay_apart(index: StoryIndex) -> None:
    # Two stubs built on one template (as wiki episode paragraphs or guide stubs are): most of
    # their few shingles are the template's, yet they are two stories.
    a = ('"The Hard Easy" is the twenty-third episode of the fourth season of the American '
         'animated television series "Adventure Time". The episode was written and storyboarded '
         "by Kent Osborne and Somvilay Xayaphone.")
    b = ('"Web Weirdos" is the third episode of the fourth season of the American animated '
         'television series "Adventure Time". The episode was written and storyboarded by Cole '
         "Sanchez and Rebecca Sugar, from a story by Patrick McHale, Adam Muto and Pendleton Ward.")
    got = index.add([article("a", a), article("b", b)])
    assert got["a"] != got["b"]
