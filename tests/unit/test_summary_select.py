"""Sentence selection of the offline summarizer, on hand-built sentences, vectors and models."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from qa.summarize.scorer import FEATURES, SentenceModel
from qa.summarize.select import (
    DEFAULT_PARAMS,
    MIN_KEPT,
    MULTI_CAP,
    SINGLE_CAP,
    article_budget,
    is_near_duplicate,
    looks_like_furniture,
    select_sentences,
    summary_budget,
)

pytestmark = pytest.mark.unit

DIM = 64


def sentence(tag: int, words: int = 15) -> str:
    """A plain news-like sentence whose content words are its own (no overlap with others)."""
    return "Officials" + str(tag) + " " + " ".join(f"item{tag}n{j}" for j in range(words - 1)) + "."


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    """n random unit vectors: in 64 dimensions they are close to orthogonal (|cos| < ~0.4)."""
    v = np.random.default_rng(seed).normal(size=(n, DIM))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def single(sentences: list[str], vectors: np.ndarray, **kw) -> list[int]:
    n = len(sentences)
    return select_sentences(sentences, vectors, [0] * n, list(range(n)), **kw)


def test_empty_input_gives_empty_summary() -> None:
    assert select_sentences([], np.zeros((0, DIM)), [], []) == []


def test_only_furniture_gives_empty_summary() -> None:
    junk = ["By . Daily Mail Reporter .", "Scroll down for video", "EXCLUSIVE"]
    assert single(junk, unit_vectors(3)) == []


def test_max_sentences_zero_gives_empty_summary() -> None:
    sents = [sentence(i) for i in range(10)]
    assert single(sents, unit_vectors(10), max_sentences=0) == []


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        select_sentences([sentence(0)], unit_vectors(2), [0], [0])


def test_same_input_same_output() -> None:
    sents = [sentence(i) for i in range(30)]
    vecs = unit_vectors(30)
    first = single(sents, vecs)
    assert first and all(single(sents, vecs) == first for _ in range(3))


def test_input_order_does_not_matter_and_output_is_in_reading_order() -> None:
    sents = [sentence(i) for i in range(12)] + [sentence(100 + i) for i in range(12)]
    vecs = unit_vectors(24)
    docs = [0] * 12 + [1] * 12
    pos = list(range(12)) * 2
    base = select_sentences(sents, vecs, docs, pos)
    perm = np.random.default_rng(1).permutation(24).tolist()
    shuffled = select_sentences(
        [sents[i] for i in perm], vecs[perm], [docs[i] for i in perm], [pos[i] for i in perm]
    )
    as_original = [perm[j] for j in shuffled]
    assert as_original == base
    keys = [(docs[i], pos[i]) for i in as_original]
    assert keys == sorted(keys)


def test_identical_vectors_are_never_both_chosen() -> None:
    sents = [sentence(i) for i in range(20)]
    vecs = unit_vectors(20)
    vecs[1] = vecs[0]  # the lead and the next sentence say the same thing
    chosen = single(sents, vecs)
    assert len({0, 1} & set(chosen)) == 1  # which one is the model's call


def test_close_vectors_count_as_duplicates() -> None:
    vecs = unit_vectors(2)
    close = vecs[0] + 0.3 * vecs[1]
    close /= np.linalg.norm(close)
    assert float(vecs[0] @ close) > 0.85
    assert is_near_duplicate(sentence(0), sentence(1), vecs[0], close)
    assert not is_near_duplicate(sentence(0), sentence(1), vecs[0], vecs[1])


def test_heavy_word_overlap_is_a_duplicate_even_with_distant_vectors() -> None:
    sents = [sentence(i) for i in range(20)]
    sents[1] = "Indeed, " + sents[0]  # same fact, reworded a little; vectors stay unrelated
    chosen = single(sents, unit_vectors(20))
    assert len({0, 1} & set(chosen)) == 1


def test_furniture_is_skipped_even_when_it_leads_and_is_central() -> None:
    junk = [
        "By . Daily Mail Reporter .",
        "PUBLISHED: 12:21 EST, 3 March 2014 | UPDATED: 12:25 EST, 3 March 2014",
        "Scroll down for video",
        "Top spot: Iconic brand set to open its second store in the city centre",
    ]
    real = [sentence(i) for i in range(20)]
    sents = junk + real
    vecs = unit_vectors(len(sents))
    hub = vecs[len(junk) :].mean(axis=0)
    vecs[: len(junk)] = hub / np.linalg.norm(hub)  # the furniture looks like the whole article
    chosen = single(sents, vecs)
    assert chosen and min(chosen) == len(junk)  # the real lead, nothing above it


@pytest.mark.parametrize(
    "text",
    [
        "By . Daily Mail Reporter .",
        "By . Sam Webb .",
        "PUBLISHED: 12:21 EST, 3 March 2014 | UPDATED: 12:25 EST, 3 March 2014",
        "Last updated at 5:08 PM on 3rd March 2014",
        "Scroll down for video",
        "Scroll down for video Top spot: the brand opens a second store",
        "Sorry we are not currently accepting comments on this article.",
        "CNN's Jane Doe contributed to this report.",
        "LONDON, England (CNN) --",
        "EXCLUSIVE",
        "HE COULD PLAY, TOO!",
        "PREDICTION: Home win.",
        "Pictured: The shantytown beside the motorway at night",
        "(left)",
        "The",
        "unsuspecting motorists.",
    ],
)
def test_furniture_is_recognised(text: str) -> None:
    assert looks_like_furniture(text)


@pytest.mark.parametrize(
    "text",
    [
        "The president said on Tuesday that the talks would resume next week.",
        "He said: 'We will win this and nobody can stop us.'",
        "LONDON, England (CNN) -- The prime minister resigned on Tuesday.",
        "'I really enjoy myself, I party hard,' she admitted on the show.",
        "She knew the attacker.",
    ],
)
def test_news_sentences_are_not_furniture(text: str) -> None:
    assert not looks_like_furniture(text)


def test_every_article_is_covered() -> None:
    sents, docs, pos = [], [], []
    for d, n in enumerate([25, 6, 6]):
        for p in range(n):
            sents.append(sentence(100 * d + p))
            docs.append(d)
            pos.append(p)
    vecs = unit_vectors(len(sents))
    hub = vecs[:25].mean(axis=0)
    vecs[:25] = 0.4 * vecs[:25] + hub  # the long first article is one tight, central cluster
    chosen = select_sentences(sents, vecs, docs, pos)
    assert {docs[i] for i in chosen} == {0, 1, 2}


def test_a_fact_shared_by_two_articles_is_said_once() -> None:
    sents = [sentence(i) for i in range(10)] + [sentence(100 + i) for i in range(10)]
    vecs = unit_vectors(20)
    vecs[10] = vecs[0]  # both leads report the same event
    docs = [0] * 10 + [1] * 10
    chosen = select_sentences(sents, vecs, docs, list(range(10)) * 2)
    assert not (0 in chosen and 10 in chosen)
    assert {docs[i] for i in chosen} == {0, 1}


def test_summary_grows_with_article_length() -> None:
    def summary_size(n_sentences: int) -> int:
        sents = [sentence(i, words=20) for i in range(n_sentences)]
        return len(single(sents, unit_vectors(n_sentences)))

    sizes = [summary_size(n) for n in (2, 5, 15, 60, 200)]
    assert sizes[0] == 1
    assert sizes[1] <= 2
    assert sizes == sorted(sizes) and sizes[-1] > sizes[1]
    assert max(sizes) <= SINGLE_CAP


def test_word_budget_rule() -> None:
    budget = DEFAULT_PARAMS.word_budget
    got = [article_budget(w) for w in (0, 50, 100, 200, 600, 1000, 3000, 9000)]
    assert got[0] == 0
    assert got[1] == pytest.approx(15) and got[2] == pytest.approx(30)  # short: 0.3 of the words
    assert got[3] == got[4] == got[5] == budget  # flat over the tune articles' range
    assert got[6] == pytest.approx(1.5 * budget) and got[7] == pytest.approx(2 * budget)
    assert got == sorted(got)


def test_several_articles_get_more_words_but_each_at_most_its_own() -> None:
    one, _ = summary_budget([600])
    three, per_doc = summary_budget([600, 600, 600])
    assert per_doc == [DEFAULT_PARAMS.word_budget] * 3
    assert one < three <= sum(per_doc)
    assert three == pytest.approx(article_budget(1800) + 2 * DEFAULT_PARAMS.extra_article_words)
    tiny, per_tiny = summary_budget([40, 40])
    assert tiny == sum(per_tiny)  # never more than the articles give on their own
    assert summary_budget([]) == (0.0, [])
    assert summary_budget([0, 600]) == (DEFAULT_PARAMS.word_budget, [0.0, DEFAULT_PARAMS.word_budget])


def test_selection_stops_at_the_word_budget() -> None:
    sents = [sentence(i, words=20) for i in range(30)]  # 600 words: a 60-word budget
    chosen = single(sents, unit_vectors(30))
    words = [len(sents[i].split()) for i in chosen]
    assert sum(words) >= DEFAULT_PARAMS.word_budget
    assert sum(words) - words[-1] < DEFAULT_PARAMS.word_budget or len(chosen) == 1


def test_many_articles_stay_under_the_sentence_cap() -> None:
    sents, docs, pos = [], [], []
    for d in range(40):
        for p in range(30):
            sents.append(sentence(1000 * d + p, words=20))
            docs.append(d)
            pos.append(p)
    chosen = select_sentences(sents, unit_vectors(len(sents)), docs, pos)
    assert len(chosen) == MULTI_CAP


def test_max_sentences_caps_the_summary() -> None:
    sents = [sentence(i) for i in range(60)]
    assert len(single(sents, unit_vectors(60), max_sentences=2)) == 2


def test_long_sentences_are_avoided_but_not_to_the_point_of_no_summary() -> None:
    short = [sentence(i, words=15) for i in range(20)]
    sents = [sentence(99, words=80)] + short
    assert 0 not in single(sents, unit_vectors(21))
    only_long = [sentence(i, words=80) for i in range(10)]
    assert single(only_long, unit_vectors(10))


def _letters(n: int) -> str:
    """A word of letters only, distinct for each n (the digit feature must stay off)."""
    return "".join(chr(ord("a") + int(d)) for d in str(n))


def _plain(tag: int, words: int = 10) -> str:
    return "Officials " + " ".join(f"item{_letters(tag)}x{_letters(j)}" for j in range(words - 1)) + "."


def _number_model() -> SentenceModel:
    """Scores a sentence by whether it holds a digit, nothing else."""
    coef = np.zeros(len(FEATURES))
    coef[FEATURES.index("number")] = 1.0
    ones = np.ones(len(FEATURES))
    return SentenceModel(mean=np.zeros(len(FEATURES)), scale=ones, coef=coef, intercept=0.0)


def test_below_average_sentences_are_not_added_to_fill_the_budget() -> None:
    sents = [_plain(i) for i in range(30)]  # 300 words: a 60-word budget, six 10-word sentences
    sents[7] = sents[7][:-1] + " in 2014."
    sents[19] = sents[19][:-1] + " for 300 dollars."
    vecs = unit_vectors(30)
    model = _number_model()
    assert DEFAULT_PARAMS.stop_score is not None
    chosen = single(sents, vecs, model=model)
    assert chosen == [7, 19]  # the two that stand out; every other one is below the mean
    budget_only = single(sents, vecs, model=model, params=replace(DEFAULT_PARAMS, stop_score=None))
    assert set(chosen) < set(budget_only) and len(budget_only) == SINGLE_CAP


def test_the_score_floor_never_cuts_below_the_minimum() -> None:
    sents = [_plain(i) for i in range(30)]
    sents[12] = sents[12][:-1] + " in 2014."  # one sentence stands out, the rest are below average
    chosen = single(sents, unit_vectors(30), model=_number_model())
    assert 12 in chosen and len(chosen) == MIN_KEPT
