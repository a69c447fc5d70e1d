"""The summary sentence model: its features on hand-built sentences, the shipped JSON file, and
the oracles (greedy, soft) that label its training data (no embedding model needed)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from qa.errors import ConfigError
from qa.summarize.scorer import DEFAULT_PATH, FEATURES, SentenceModel, article_features, load_model
from qa.summarize.select import sentence_scores

pytestmark = pytest.mark.unit

COL = {name: i for i, name in enumerate(FEATURES)}

ARTICLE = [
    "The city council approved a new bridge over the river on Monday.",
    "The bridge will cost 40 million euros and open in 2027.",
    "'It is a historic day for the city,' the mayor told reporters.",
    "He added that work on the bridge would start in the spring.",
    "Farmers in the region complained about the weather this year, as they often do.",
]


def vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 32))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_one_row_per_sentence_in_feature_order() -> None:
    x = article_features(ARTICLE, vectors(5))
    assert x.shape == (5, len(FEATURES))
    assert np.isfinite(x).all()
    assert article_features([], np.zeros((0, 32))).shape == (0, len(FEATURES))


def test_position_features() -> None:
    x = article_features(ARTICLE, vectors(5))
    assert x[:, COL["first"]].tolist() == [1, 0, 0, 0, 0]
    assert x[:, COL["second"]].tolist() == [0, 1, 0, 0, 0]
    assert x[:, COL["third"]].tolist() == [0, 0, 1, 0, 0]
    assert x[:, COL["relative_rank"]].tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert x[4, COL["log_rank"]] == pytest.approx(math.log(5))
    assert x[:, COL["log_sentences"]].tolist() == [pytest.approx(math.log(5))] * 5


def test_surface_features() -> None:
    x = article_features(ARTICLE, vectors(5))
    assert x[:, COL["number"]].tolist() == [0, 1, 0, 0, 0]
    assert x[:, COL["quote"]].tolist() == [0, 0, 1, 0, 0]  # "It's"-style apostrophes are no quote
    assert x[:, COL["opens_quote"]].tolist() == [0, 0, 1, 0, 0]
    assert x[:, COL["opens_reference"]].tolist() == [0, 0, 0, 1, 0]
    assert x[0, COL["log_words"]] == pytest.approx(math.log(12))
    assert x[0, COL["long"]] == 0 and x[0, COL["short"]] == 0
    long = article_features(["word " * 45 + "end.", "Short one here."], vectors(2))
    assert long[0, COL["long"]] == pytest.approx(1.1) and long[1, COL["short"]] == pytest.approx(0.9)


def test_similarity_features_follow_the_vectors() -> None:
    v = vectors(5)
    v[3] = v[0]  # sentence 3 restates the lead
    x = article_features(ARTICLE, v)
    sim = v @ v.T
    assert x[3, COL["lead_similarity"]] == pytest.approx(1.0)
    assert x[0, COL["lead_similarity"]] == pytest.approx(sim[0, 1])  # the lead: to the second
    assert x[2, COL["centrality"]] == pytest.approx(np.delete(sim[2], 2).mean())
    assert x[0, COL["forward"]] == pytest.approx(sim[0, 1:].mean())
    assert x[4, COL["backward"]] == pytest.approx(sim[4, :4].mean())
    assert x[0, COL["backward"]] == 0 and x[4, COL["forward"]] == 0


def test_word_features_reward_the_articles_widespread_words() -> None:
    x = article_features(ARTICLE, vectors(5))
    # "bridge" and "city" recur; the farmers' sentence shares nothing with the others.
    assert x[4, COL["repeated_words"]] == 0 and x[4, COL["word_frequency"]] == 0
    assert x[1, COL["repeated_words"]] > 0 and x[1, COL["lead_overlap"]] > 0
    assert x[0, COL["top_words"]] > x[4, COL["top_words"]]


def test_shipped_model_loads_and_scores() -> None:
    model = load_model()
    data = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    assert tuple(data["features"]) == FEATURES
    assert data["articles"] > 0 and "FRANK" in data["data"]
    logits = model.logits(article_features(ARTICLE, vectors(5)))
    assert logits.shape == (5,) and np.isfinite(logits).all()
    # What it learned from CNN/DailyMail: the opening beats the unrelated aside at the end.
    assert logits[0] > logits[4] and logits[1] > logits[4]
    scores = sentence_scores(ARTICLE, vectors(5))
    assert scores.mean() == pytest.approx(0) and scores.std() == pytest.approx(1)


def test_a_quote_costs_score() -> None:
    plain = ARTICLE[:2] + ["It is a historic day for the city, the mayor told reporters."] + ARTICLE[3:]
    model = load_model()
    v = vectors(5)
    quoted = model.logits(article_features(ARTICLE, v))[2]
    unquoted = model.logits(article_features(plain, v))[2]
    assert unquoted > quoted


def test_model_round_trips_through_json(tmp_path: Path) -> None:
    n = len(FEATURES)
    model = SentenceModel(mean=np.zeros(n), scale=np.ones(n), coef=np.arange(n) / n, intercept=-1.0)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(model.to_dict()), encoding="utf-8")
    back = load_model(path)
    x = np.ones((2, n))
    assert back.logits(x) == pytest.approx(model.logits(x))


@pytest.mark.parametrize(
    "change",
    [
        {"features": ["first", "second"]},  # fitted for other features
        {"coef": [0.0]},  # wrong length
        {"scale": [0.0] * len(FEATURES)},  # would divide by zero
        {"mean": None},
    ],
)
def test_a_model_for_other_features_or_malformed_is_refused(tmp_path: Path, change: dict) -> None:
    data = {**json.loads(DEFAULT_PATH.read_text(encoding="utf-8")), **change}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="summary sentence model"):
        load_model(path)


def test_an_unreadable_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_model(tmp_path / "missing.json")


def _training_script():  # noqa: ANN202
    pytest.importorskip("rouge_score")
    path = Path(__file__).resolve().parents[2] / "eval" / "train_summary_model.py"
    spec = importlib.util.spec_from_file_location("train_summary_model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Two sentences of the reference, a restatement of one, and one unrelated.
SENTENCES = [
    "The council approved the bridge.",
    "It rained on Tuesday in the hills.",
    "The bridge costs 40 million euros.",
    "The council approved the bridge on Monday.",
]
REFERENCE = ["The council approved the bridge.", "The bridge costs 40 million euros."]


def test_greedy_oracle_takes_what_raises_rouge_and_stops() -> None:
    oracle = _training_script().oracle
    sentences, reference = SENTENCES, REFERENCE
    assert oracle(sentences, reference, [0, 1, 2, 3]) == {0, 2}  # the restatement adds nothing
    assert oracle(sentences, reference, [1, 2, 3]) == {2, 3}
    assert oracle(["Rain fell on Tuesday."], reference, [0]) == set()  # nothing in common


def test_soft_oracle_shares_weight_among_good_summaries() -> None:
    script = _training_script()
    sentences, reference = SENTENCES, REFERENCE
    labels = script.soft_oracle(sentences, reference, [0, 1, 2, 3])
    assert set(labels) == {0, 1, 2, 3}
    assert all(0.0 <= p <= 1.0 for p in labels.values())
    # both reference sentences are in every good set; the restatement is in some, the rain in none
    assert labels[0] > 0.9 and labels[2] > 0.9
    assert 0.001 < labels[3] < 0.1
    assert labels[1] < labels[3]
    # without the exact sentence its restatement becomes the good choice
    assert script.soft_oracle(sentences, reference, [1, 2, 3])[3] > 0.9
    # one set: the hard labels of the best summary
    assert script.soft_oracle(sentences, reference, [0, 1, 2, 3], top=1) == {
        0: 1.0, 1: 0.0, 2: 1.0, 3: 0.0
    }
    assert script.soft_oracle(["Rain fell on Tuesday."], reference, [0]) == {0: 0.0}


def test_fit_takes_soft_labels_as_weights() -> None:
    pytest.importorskip("sklearn")
    fit = _training_script().fit
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(FEATURES)))
    p = 1 / (1 + np.exp(-3 * x[:, 0]))  # the label follows the first feature, softly
    model = fit([(x[:100], p[:100]), (x[100:], p[100:])], 1.0)
    assert model.coef[0] > 1.0 and np.all(np.abs(model.coef[1:]) < 0.5 * model.coef[0])
    hard = fit([(x, (p > 0.5).astype(float))], 1.0)  # hard labels still work
    assert hard.coef[0] > 0
