"""eval/train_evidence_model.py end to end on a tiny corpus: features, labels, fit, the report,
and a model file that the retriever loads."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from qa.retrieve import evidence_model
from qa.settings import Settings
from tests.support.paths import ROOT

pytestmark = pytest.mark.integration


def _script():  # noqa: ANN202
    path = ROOT / "eval" / "train_evidence_model.py"
    spec = importlib.util.spec_from_file_location("train_evidence_model", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


DOCS = [
    {"doc_id": "film", "title": "Kiss and Tell (1945 film)", "source": "wiki",
     "text": "Kiss and Tell is a 1945 American comedy film starring Shirley Temple as Corliss Archer. "
             "The film was produced by Columbia Pictures. It was a box-office success."},
    {"doc_id": "actress", "title": "Shirley Temple", "source": "wiki",
     "text": "Shirley Temple Black was an American actress and diplomat. As an adult she served as "
             "Chief of Protocol of the United States. She died in 2014."},
    {"doc_id": "harbour", "title": "Harbour", "source": "news",
     "text": "The harbour froze in January. Fishing boats stayed in port for weeks. Prices of fish rose."},
]
QUESTIONS = [
    {"qid": "q1",
     "question": "What position did the actress who played Corliss Archer in Kiss and Tell hold?",
     "gold_answer": "Chief of Protocol", "doc_ids": ["film", "actress"],
     "gold_evidence": [DOCS[0]["text"].split(". ")[0] + ".",
                       "As an adult she served as Chief of Protocol of the United States."]},
    {"qid": "q2", "question": "Why did fishing boats stay in port?", "gold_answer": "the harbour froze",
     "doc_ids": ["harbour"], "gold_evidence": ["The harbour froze in January."]},
    {"qid": "q3", "question": "Who won the election?", "gold_answer": "", "doc_ids": [], "gold_evidence": []},
]


def test_training_script_fits_reports_and_writes_a_loadable_model(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    data = tmp_path / "data"
    data.mkdir()
    script = _script()
    for name in script.SETS:  # the same tiny set under each name
        (data / f"{name}_docs.jsonl").write_text("\n".join(json.dumps(d) for d in DOCS))
        (data / f"{name}_questions.jsonl").write_text("\n".join(json.dumps(q) for q in QUESTIONS))
    items = script.collect(data, tmp_path / "home", Settings(evidence_threshold=2.0))
    assert len(items) == 2 * len(script.SETS)  # the unanswerable question is left out
    assert all(i.x.shape == (len(i.y), len(evidence_model.FEATURES)) for i in items)
    assert sum(int(i.y.sum()) for i in items) >= 2 * len(script.SETS)  # gold sentences are labelled
    model = script.fit(items)
    script.assign(items, model)
    scores = script.measure(items, Settings(), 0.35)
    recall, precision, contained, n = scores["hotpotqa"]
    assert 0 < recall <= 1 and 0 < precision <= 1 and 1 <= n <= 5

    target = tmp_path / "model.json"
    monkeypatch.setattr(evidence_model, "DEFAULT_PATH", target)
    argv = ["train", "--data", str(data), "--home", str(tmp_path / "home"), "--write"]
    monkeypatch.setattr(sys, "argv", argv)
    assert script.main() == 0
    loaded = evidence_model.load(target)
    assert loaded.coef.shape == (len(evidence_model.FEATURES),)
    written = json.loads(target.read_text())
    assert written["questions"] == len(items)
    # The threshold and the neighbour rule are chosen among the variants measured on tune.
    assert written["threshold"] in script.THRESHOLDS and isinstance(written["neighbour"], bool)
    neighbour = script.measure(items, Settings(), 0.35, neighbour=True)
    assert neighbour["hotpotqa"][3] >= scores["hotpotqa"][3]  # it only ever adds or swaps
