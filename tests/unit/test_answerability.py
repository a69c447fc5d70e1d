"""The answerability model's pieces: what a question asks for, whether a sentence holds it, and
the shipped model file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.errors import ConfigError
from qa.retrieve import answerability as a

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many peacekeepers did Russia deploy?", "number"),
        ("How much does the US spend on the drills?", "number"),
        ("What is the population of Armenia?", "number"),
        ("When did the exercises start?", "date"),
        ("In which year was the treaty signed?", "date"),
        ("Who commands the brigade?", "person"),
        ("Where did the drills take place?", "place"),
        ("Why is Armenia drifting from Moscow?", "reason"),
        ("What did Peskov say about the decision?", "quote"),
        ("Which brigade takes part?", "name"),
        ("What has the government accused Azerbaijan of?", "other"),
    ],
)
def test_expected_type_reads_what_is_asked(question: str, kind: str) -> None:
    assert a.expected_type(question) == kind


def test_expected_type_ignores_case_and_a_missing_question_mark() -> None:
    assert a.expected_type("WHY IS ARMENIA DRIFTING FROM MOSCOW") == "reason"
    assert a.expected_type("how many peacekeepers did russia deploy") == "number"


def test_an_ordinal_or_a_year_is_not_an_amount() -> None:
    q = "How many soldiers serve in the brigade?"
    assert not a.has_type("The drills help Armenia's 12th Peacekeeping Brigade.", "number", q)
    assert not a.has_type("The drills began in 2023.", "number", q)
    assert a.has_type("Russia deployed 2,000 peacekeepers.", "number", q)
    assert a.has_type("Russia deployed two thousand peacekeepers.", "number", q)


def test_a_number_the_question_already_gives_is_not_its_answer() -> None:
    q = "Where were the 2,000 peacekeepers deployed?"
    assert not a.has_type("Russia deployed 2,000 peacekeepers.", "number", q)


def test_a_date_is_found_in_words_and_figures() -> None:
    q = "When did the drills start?"
    assert a.has_type("The drills opened on Monday, September 11.", "date", q)
    assert a.has_type("The drills opened three days ago.", "date", q)
    assert not a.has_type("The drills opened with a parade.", "date", q)


def test_a_name_the_question_already_gives_is_not_its_answer() -> None:
    q = "Who is Pashinyan?"
    assert not a.has_type("Yesterday Pashinyan said so.", "person", q)
    assert a.has_type("Kremlin spokesman Dmitry Peskov said Armenia must think again.", "person", q)


def test_reasons_are_found_by_their_cues() -> None:
    assert a.has_type("Residents are frustrated over Russia's failure to help.", "reason")
    assert not a.has_type("The drills opened on Monday.", "reason")


def test_a_question_of_no_particular_kind_is_held_by_any_sentence() -> None:
    assert a.has_type("Anything at all.", "other")


def _model_file(tmp_path: Path, **change: object) -> Path:
    n = len(a.FEATURES)
    data = {"features": list(a.FEATURES), "mean": [0.0] * n, "scale": [1.0] * n,
            "coef": [0.0] * n, "intercept": 0.0, **change}
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    return path


def test_the_shipped_model_loads_and_its_weights_on_evidence_are_not_negative() -> None:
    model = a.load()
    assert model.features == a.FEATURES
    for name, c in zip(a.FEATURES, model.coef, strict=True):
        if name != "type_other":
            assert c >= 0, name


def test_one_sentence_holding_every_word_and_the_asked_thing_answers(tmp_path: Path) -> None:
    model = a.load(str(_model_file(tmp_path, intercept=-10.0)))
    row = [0.0] * len(a.FEATURES)
    assert model.probability(row) < 0.01
    row[a.FEATURES.index("one_sentence_answers")] = 1.0
    assert model.probability(row) > 0.9


def test_a_model_for_other_features_is_a_config_error(tmp_path: Path) -> None:
    path = _model_file(tmp_path, features=["best_dense"])
    with pytest.raises(ConfigError, match="other features"):
        a.load(str(path))


def test_an_unreadable_model_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=str(path)):
        a.load(str(path))
