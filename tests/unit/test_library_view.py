"""A question sees one view of the library: what another process writes while it is being
answered (sentences in Chroma before their catalog entry commits) is not chosen from one view and
described from another (that was a KeyError under `qa serve` while a scheduled ingest ran)."""

from pathlib import Path

import pytest

from qa.service import QA
from qa.settings import Settings
from qa.types import Article

pytestmark = pytest.mark.unit

HARBOUR = Article(doc_id="harbour", title="Harbour", source="Wire",
                  text="The harbour froze in January. Fishing boats stayed in port for weeks.")
FERRY = Article(doc_id="ferry", title="Ferry", source="Wire",
                text="The harbour ferry stopped in January. The ferry crews stayed in port for weeks.")


def test_candidates_come_only_from_the_question_s_view_of_the_library(tmp_path: Path, fake_embedder) -> None:  # noqa: ANN001
    home = tmp_path / "home"
    reader = QA(Settings(home=home, abstain_threshold=0.0), embedder=fake_embedder)
    reader.ingest_articles([HARBOUR])
    view = reader.store.catalog()  # what a question that starts now reads
    writer = QA(Settings(home=home), embedder=fake_embedder)  # another writer on the same library
    writer.ingest_articles([FERRY])

    question = "Did the harbour ferry stop in January?"
    # Another thread of the same server syncs meanwhile: the store's catalog now holds the ferry,
    # which the question's view (taken when it started) does not.
    reader.store.sync()
    assert "ferry" in reader.store.catalog().articles and "ferry" not in view.articles
    assert "ferry" in {c.hit.doc_id for c in reader.retriever.candidates(question)[0]}
    ranked, doc_rank = reader.retriever.candidates(question, view=view)
    assert ranked and {c.hit.doc_id for c in ranked} == {"harbour"}
    assert doc_rank == ["harbour"]

    # The next question syncs: the ferry is in its view, and cited with its own metadata.
    answer = reader.ask(question)
    assert "ferry" in {c.doc_id for c in answer.citations}
    assert all(c.title == {"harbour": "Harbour", "ferry": "Ferry"}[c.doc_id] for c in answer.citations)
    writer.close()
    reader.close()
