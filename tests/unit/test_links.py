"""Title links (the second hop of multi-hop questions) and the evidence model's part in selection."""

import json
from pathlib import Path

import numpy as np
import pytest

from qa.errors import ConfigError
from qa.retrieve import evidence_model
from qa.retrieve.evidence import Candidate, select
from qa.retrieve.links import TitleIndex, title_phrase
from qa.store import ArticleMeta, SentenceHit
from qa.types import Article

pytestmark = pytest.mark.unit


def test_title_phrase_keeps_names_and_drops_headlines() -> None:
    assert title_phrase("Kiss and Tell (1945 film)") == ("kiss", "and", "tell")
    assert title_phrase("I&quot;s") is None  # one short word: too common to be a link
    assert title_phrase("Brown County, Kansas") == ("brown", "county", "kansas")
    assert title_phrase("The") is None
    assert title_phrase("2014") is None
    assert title_phrase("Armenia, US begin joint military drills as ties with Russia fray") is None


def _meta(doc_id: str, title: str) -> ArticleMeta:
    return ArticleMeta(doc_id=doc_id, version="v", title=title, source="", published_at=None,
                       published_day=None, url=None, byline=None, content_hash="h", n_sentences=3)


def test_mentions_are_whole_words_longest_first_in_order() -> None:
    index = TitleIndex()
    index.ensure("f1", {
        "a": _meta("a", "Shirley Temple"),
        "b": _meta("b", "Temple"),
        "c": _meta("c", "Brown County, Kansas"),
        "d": _meta("d", "Kansas"),
    })
    text = "It lies in Brown County, Kansas; the film starred SHIRLEY TEMPLE."
    assert index.mentioned([text]) == ["c", "a"]  # not "d" or "b": inside longer names
    assert index.mentioned(["Templeton in Kansas"]) == ["d"]  # "Templeton" is not "Temple"
    index.ensure("f2", {"b": _meta("b", "Temple")})  # a new catalog replaces the old titles
    assert index.mentioned([text]) == ["b"]


CORPUS = [
    Article(
        doc_id="film",
        title="Kiss and Tell (1945 film)",
        text=(
            "Kiss and Tell is a 1945 American comedy film starring Shirley Temple as Corliss "
            "Archer. The film was produced by Columbia Pictures. It was a box-office success."
        ),
    ),
    Article(
        doc_id="actress",
        title="Shirley Temple",
        text=(
            "Shirley Temple Black was an American actress and diplomat. As an adult she "
            "served as Chief of Protocol of the United States. She died in 2014."
        ),
    ),
    Article(doc_id="other", title="Harbour",
            text="The harbour froze in January. Fishing boats stayed in port for weeks."),
]
QUESTION = "What government position was held by the woman who portrayed Corliss Archer in Kiss and Tell?"


def test_a_sentence_naming_another_article_brings_that_article_in(make_qa, fake_embedder) -> None:  # noqa: ANN001
    qa = make_qa(fake_embedder, abstain_threshold=0.0)  # hashed vectors: answerability is moot
    qa.ingest_articles(CORPUS)
    ranked, _ = qa.retriever.candidates(QUESTION)
    linked = {c.hit.doc_id for c in ranked if c.linked}
    # The question names the film; the film's first sentence names the actress.
    assert linked == {"film", "actress"}
    film_lead = next(c for c in ranked if (c.hit.doc_id, c.hit.index) == ("film", 0))
    actress_best = max(c.relevance for c in ranked if c.hit.doc_id == "actress")
    # The linked article's best sentence ranks no lower than just below the sentence naming it.
    assert actress_best >= film_lead.relevance - qa.settings.link_bonus - 1e-6
    cited = {c.doc_id for c in qa.ask(QUESTION).citations}
    assert {"film", "actress"} <= cited

    off = make_qa(fake_embedder, link_bonus=0.0, question_link_bonus=0.0)
    off.ingest_articles(CORPUS)
    assert not any(c.linked for c in off.retriever.candidates(QUESTION)[0])


def _cand(i: int, relevance: float, probability: float | None) -> Candidate:
    words = ["harbour froze", "boats stayed", "prices rose", "talks stalled"][i]
    hit = SentenceHit(doc_id=f"d{i}", index=0, start=0, end=1, chunk=0, text=words, similarity=1.0)
    return Candidate(hit=hit, relevance=relevance, probability=probability)


def test_select_cites_beyond_the_margin_only_what_the_model_vouches_for() -> None:
    ranked = [_cand(0, 1.0, 0.9), _cand(1, 0.9, 0.2), _cand(2, 0.5, 0.6), _cand(3, 0.4, 0.3)]
    chosen = select(ranked, k=5, margin=0.15, redundancy=0.9, threshold=0.5)
    assert [c.hit.doc_id for c in chosen] == ["d0", "d2", "d1"]  # most probable first
    without = select(ranked, k=5, margin=0.15, redundancy=0.9, threshold=2.0)
    assert [c.hit.doc_id for c in without] == ["d0", "d1"]
    assert len(select(ranked, k=1, margin=1.0, redundancy=0.9, threshold=0.0)) == 1


def test_shipped_evidence_model_loads_and_gives_probabilities() -> None:
    model = evidence_model.load()
    row = evidence_model.feature_row(
        relevance=0.9, best=1.0, dense=0.6, lexical=0.5, chunk=0.5, index=0, rank=1,
        doc_rank=0, linked=False, bridged=False, n_sentences=5, text="A short sentence here.",
        type_match=True, type_asked=True, coverage=0.8, rarest=True,
    )
    weak = evidence_model.feature_row(
        relevance=0.2, best=1.0, dense=0.1, lexical=0.0, chunk=0.1, index=40, rank=19,
        doc_rank=5, linked=False, bridged=False, n_sentences=80, text="Unrelated words.",
        type_match=False, type_asked=True, coverage=0.0, rarest=False,
    )
    p = model.probabilities([row, weak])
    assert len(row) == len(evidence_model.FEATURES)
    assert np.all((p > 0) & (p < 1))
    assert p[0] > p[1]


def test_an_evidence_model_for_other_features_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"features": ["dense"], "mean": [0], "scale": [1], "coef": [1],
                                "intercept": 0}))
    with pytest.raises(ConfigError, match="old.json"):
        evidence_model.load(path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json"):
        evidence_model.load(tmp_path / "bad.json")
