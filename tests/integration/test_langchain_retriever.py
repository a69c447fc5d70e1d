"""`QARetriever` against langchain-tests' standard retriever suite, and the retriever and the
answer runnable giving the same citations as `qa ask --json`, over a real library (the bundled
model, an embedded Chroma) holding the seed article."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from qa.api.langchain import QAAnswerRunnable, QARetriever, qa_answer_chain
from qa.errors import InputError
from qa.service import QA
from qa.settings import Settings
from qa.types import Answer
from tests.support.paths import SEED
from tests.support.qa_server import qa_env, run_qa

pytestmark = pytest.mark.integration

QUESTION = "Why is Armenia drifting from Moscow?"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[QA]:
    """A QA over a temp home with the seed article, with the real bundled model."""
    home = tmp_path_factory.mktemp("langchain") / "home"
    qa = QA(Settings(home=home, mode="extractive"), embedder=embedder)
    [result] = qa.ingest([SEED])
    assert result.status == "added", result
    yield qa
    qa.close()


# The suite's async test carries no marker and this project runs pytest-asyncio in strict mode;
# the mark on the class reaches it (the suite forbids overriding its tests), and pytest-asyncio's
# note that the class's other tests are not coroutines is expected.
@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore:The test <Function .* is marked with '@pytest.mark.asyncio'")
class TestQARetrieverStandard(RetrieversIntegrationTests):
    """langchain-tests' own checks: k in the constructor and in invoke, Documents back, async."""

    qa: QA

    @pytest.fixture(autouse=True)
    def _library(self, seeded: QA) -> None:
        # The suite builds retrievers from a property; it reads the library from the class.
        type(self).qa = seeded

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return QARetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"qa": self.qa}

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


@pytest.fixture(scope="module")
def cli_answer(seeded: QA) -> dict[str, Any]:
    """`qa ask --json` in its own process over the same library."""
    got = run_qa(qa_env(seeded.settings.home), "ask", "--json", QUESTION)
    assert got.returncode == 0, got.stderr
    answer = json.loads(got.stdout)
    assert not answer["abstained"] and answer["citations"], answer
    return answer


def ids(rows: list[dict[str, Any]]) -> list[tuple[str, str, int, int]]:
    return [(r["doc_id"], r["sentence_id"], r["start"], r["end"]) for r in rows]


def test_retriever_gives_the_cited_sentences(seeded: QA, cli_answer: dict[str, Any]) -> None:
    docs = QARetriever(qa=seeded).invoke(QUESTION)
    # k=None: exactly the sentences the answer cites (relevance order; the answer keeps
    # article order), each Document one sentence with its place in its article
    assert sorted(ids([d.metadata for d in docs])) == sorted(ids(cli_answer["citations"]))
    by_id = {c["sentence_id"]: c for c in cli_answer["citations"]}
    for d in docs:
        assert isinstance(d, Document) and d.metadata["cited"] is True
        c = by_id[d.metadata["sentence_id"]]
        assert d.page_content == c["text"] and d.id == c["sentence_id"]
        assert d.metadata["title"] == c["title"] and d.metadata["source"] == c["source"]
        assert {"published_at", "date", "url", "score"} <= set(d.metadata)
        article = seeded.get(d.metadata["doc_id"])
        assert article.text[d.metadata["start"]:d.metadata["end"]] == d.page_content
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)


def test_retriever_k_fills_with_next_candidates(seeded: QA, cli_answer: dict[str, Any]) -> None:
    n_cited = len(cli_answer["citations"])
    docs = QARetriever(qa=seeded, k=n_cited + 3).invoke(QUESTION)
    assert len(docs) == n_cited + 3
    assert [d.metadata["cited"] for d in docs] == [True] * n_cited + [False] * 3
    assert len({d.id for d in docs}) == len(docs)


def test_retriever_bad_input_is_a_clear_error(seeded: QA) -> None:
    retriever = QARetriever(qa=seeded)
    with pytest.raises(InputError, match="k .* 1 to 50, not 0"):
        retriever.invoke(QUESTION, k=0)
    with pytest.raises(InputError, match="takes k, not top_n"):
        retriever.invoke(QUESTION, top_n=3)
    with pytest.raises(InputError, match="question is empty"):
        retriever.invoke("  ")


def test_retriever_filters(seeded: QA) -> None:
    assert QARetriever(qa=seeded, sources=["No Such Wire"]).invoke(QUESTION) == []


def test_answer_runnable_same_citations_as_cli(seeded: QA, cli_answer: dict[str, Any]) -> None:
    answer = qa_answer_chain(seeded).invoke({"question": QUESTION})
    assert isinstance(answer, Answer)
    assert answer.answer == cli_answer["answer"]
    assert ids([c.model_dump() for c in answer.citations]) == ids(cli_answer["citations"])

    as_dict = QAAnswerRunnable(qa=seeded, as_dict=True).invoke(QUESTION)
    assert ids(as_dict["citations"]) == ids(cli_answer["citations"])
    assert as_dict["answer"] == cli_answer["answer"]

    # one runnable among others: batch and a pipe into a plain function
    chain = qa_answer_chain(seeded) | (lambda a: [c.sentence_id for c in a.citations])
    got = chain.batch([QUESTION, {"question": QUESTION, "k": 1}])
    assert got[0] == [c["sentence_id"] for c in cli_answer["citations"]]
    assert len(got[1]) == 1 and got[1][0] in got[0]


def test_answer_runnable_bad_input(seeded: QA) -> None:
    runnable = qa_answer_chain(seeded)
    with pytest.raises(InputError, match="Give a question"):
        runnable.invoke(42)
    with pytest.raises(InputError, match="Unknown input top_k"):
        runnable.invoke({"question": QUESTION, "top_k": 3})
    with pytest.raises(InputError, match="since must be a date"):
        runnable.invoke({"question": QUESTION, "since": "last week"})


def test_retriever_from_settings(seeded: QA) -> None:
    # Built from settings alone (a second client of the same embedded store)
    retriever = QARetriever(settings=Settings(home=Path(seeded.settings.home), mode="extractive"))
    assert retriever.qa.settings.home == seeded.settings.home
    assert retriever.qa.list()[0].doc_id == seeded.list()[0].doc_id
