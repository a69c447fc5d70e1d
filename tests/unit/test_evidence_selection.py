"""Evidence selection beyond relevance: what a sentence holds of the question (the evidence
model's features) and the neighbour rule (the next sentence joins when the best one lacks the
asked-for kind of thing)."""

import pytest

from qa.retrieve import evidence_model
from qa.retrieve.evidence import Candidate, asked_kind, features, with_neighbour
from qa.store import SentenceHit
from qa.types import Article

pytestmark = pytest.mark.unit


def _cand(doc: str, index: int, text: str, probability: float | None = 0.5) -> Candidate:
    hit = SentenceHit(doc_id=doc, index=index, start=0, end=len(text), chunk=0, text=text,
                      similarity=1.0)
    return Candidate(hit=hit, relevance=1.0, probability=probability)


ARTICLE = [
    "Armenia and the United States began joint military drills near Yerevan.",  # no number
    "About 85 US soldiers take part in the exercises, the embassy said.",
    "Moscow called the drills unfriendly.",
]
S0, S1, S2 = (_cand("a", i, t) for i, t in enumerate(ARTICLE))
OTHER = [_cand("b", 0, "Prices of fish rose in the harbour."),
         _cand("c", 0, "The talks stalled in Geneva."),
         _cand("d", 0, "Snow closed the pass in January.")]


def _next_then_previous(c: Candidate) -> list[Candidate]:
    by_index = {x.hit.index: x for x in (S0, S1, S2)} if c.hit.doc_id == "a" else {}
    return [by_index[i] for i in (c.hit.index + 1, c.hit.index - 1) if i in by_index]


def _ids(chosen: list[Candidate]) -> list[tuple[str, int]]:
    return [(c.hit.doc_id, c.hit.index) for c in chosen]


def test_the_next_sentence_joins_when_the_best_one_lacks_the_asked_for_number() -> None:
    question = "How many US soldiers take part in the drills?"
    chosen = with_neighbour([S0, OTHER[0]], question, _next_then_previous, k=5)
    assert _ids(chosen) == [("a", 0), ("b", 0), ("a", 1)]


def test_nothing_joins_when_the_best_sentence_holds_the_asked_for_thing() -> None:
    question = "How many US soldiers take part in the drills?"
    assert _ids(with_neighbour([S1, OTHER[0]], question, _next_then_previous, k=5)) == [
        ("a", 1), ("b", 0)]


def test_the_neighbour_takes_the_least_probable_place_of_a_full_answer() -> None:
    question = "How many US soldiers take part in the drills?"
    full = [S0, *OTHER]
    chosen = with_neighbour(full, question, _next_then_previous, k=4)
    assert _ids(chosen) == [("a", 0), ("b", 0), ("c", 0), ("a", 1)]


def test_an_articles_last_sentence_gets_its_previous_one_and_a_chosen_one_is_not_repeated() -> None:
    question = "What did Moscow call the drills?"  # asks for a statement; S2 holds "called"
    assert _ids(with_neighbour([S2], "Which country began drills?", _next_then_previous, k=5)) == [
        ("a", 2), ("a", 1)]
    assert _ids(with_neighbour([S0, S1], "What happened near Yerevan?", _next_then_previous,
                               k=5)) == [("a", 0), ("a", 1)]  # the next one is already chosen
    assert _ids(with_neighbour([S2], question, _next_then_previous, k=5)) == [("a", 2)]


def test_no_neighbour_without_the_evidence_model_or_without_candidates() -> None:
    # Why-questions are not judged by the model (their reasons are preferred by another rule).
    unjudged = _cand("a", 0, ARTICLE[0], probability=None)
    assert _ids(with_neighbour([unjudged], "Why did the drills begin?", _next_then_previous,
                               k=5)) == [("a", 0)]
    assert with_neighbour([], "How many soldiers?", _next_then_previous, k=5) == []


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        # A statement first: the sentence that asks decides.
        ("King Charles III became Britain's new monarch following the death of his mother, Queen "
         "Elizabeth II. Who is next in the line of royal succession?", "person"),
        ("Gun violence continued to plague communities across the US. Which state suffered the "
         "deadliest mass shooting in 2023?", "place"),
        ("Gas prices hit a record. On average, how much does a gallon of regular gas cost?",
         "number"),
        # A break after an abbreviation leaves a rest that asks for nothing: the whole question.
        ("Who did the U.S. Senate confirm?", "person"),
        ("Which party did Gov. Ron DeSantis join?", "name"),
        ("How many people died?", "number"),
        ("The drills ended. Are they over?", "other"),
    ],
)
def test_the_asked_for_kind_is_read_from_the_sentence_that_asks(question: str, kind: str) -> None:
    assert asked_kind(question) == kind


def test_a_question_opening_with_a_statement_gets_its_neighbour_by_what_it_asks() -> None:
    # Read from its first word this question asks for no recognised kind, so the next sentence
    # would always join; read from the sentence that asks, it wants a person, and the best
    # sentence already names people ("United States", "Yerevan").
    question = "Armenia and the US began drills. Who leads them?"
    assert _ids(with_neighbour([S0, OTHER[0]], question, _next_then_previous, k=5)) == [
        ("a", 0), ("b", 0)]
    # The second sentence names nobody: its next one joins.
    assert _ids(with_neighbour([S1, OTHER[0]], question, _next_then_previous, k=5)) == [
        ("a", 1), ("b", 0), ("a", 2)]


def test_features_say_what_a_sentence_holds_of_the_question(make_qa, fake_embedder) -> None:  # noqa: ANN001
    qa = make_qa(fake_embedder)
    qa.ingest_articles([
        Article(doc_id="drills", title="Drills", source="AFP", text=" ".join(ARTICLE)),
        Article(doc_id="fish", title="Fish", source="AFP",
                text="Fish prices rose. Soldiers guarded the harbour."),
    ])
    qa.lexical.ensure(qa.store)
    catalog = qa.store.catalog().articles
    hits = qa.store.get_sentence_records([("drills", 0), ("drills", 1), ("fish", 1)])
    top = [Candidate(hit=hits[key], relevance=1.0 - 0.1 * n)
           for n, key in enumerate([("drills", 0), ("drills", 1), ("fish", 1)])]
    question = "How many soldiers joined the Yerevan drills?"
    rows = features(top, catalog, question, qa.lexical)
    col = {name: [row[evidence_model.FEATURES.index(name)] for row in rows]
           for name in ("type_match", "type_asked", "coverage", "rarest")}
    assert col["type_match"] == [0.0, 1.0, 0.0]  # only "About 85 US soldiers..." holds a count
    assert col["type_asked"] == [1.0, 1.0, 1.0]
    # "Yerevan" is the rarest question word the candidates hold ("joined" is in none).
    assert col["rarest"] == [1.0, 0.0, 0.0]
    assert col["coverage"][0] > col["coverage"][2] > 0.0  # Yerevan + drills vs soldiers alone
    assert all(len(row) == len(evidence_model.FEATURES) for row in rows)
    # A question whose kind is not recognised gives no type match at all.
    other = features(top, catalog, "Are the Yerevan drills over?", qa.lexical)
    assert [row[evidence_model.FEATURES.index("type_asked")] for row in other] == [0.0] * 3
    # A statement before the question: the kind comes from the sentence that asks.
    opened = features(top, catalog, "Drills were held. Who led the drills?", qa.lexical)
    assert [row[evidence_model.FEATURES.index("type_asked")] for row in opened] == [1.0] * 3
    # Only the first names people ("United States", "Yerevan").
    assert [row[evidence_model.FEATURES.index("type_match")] for row in opened] == [1.0, 0.0, 0.0]


def test_the_retriever_reads_an_uncandidated_neighbour_from_the_store(make_qa, fake_embedder) -> None:  # noqa: ANN001
    qa = make_qa(fake_embedder)
    qa.ingest_articles([Article(doc_id="drills", title="Drills", source="AFP", text=" ".join(ARTICLE))])
    hits = qa.store.get_sentence_records([("drills", 1)])
    middle = Candidate(hit=hits[("drills", 1)], relevance=1.0)
    qv = fake_embedder.embed_query("How many soldiers?")
    near = qa.retriever._neighbours(middle, [middle], qv)
    assert [(c.hit.doc_id, c.hit.index) for c in near] == [("drills", 2), ("drills", 0)]
    assert near[0].hit.text == ARTICLE[2]
    last = Candidate(hit=near[0].hit, relevance=1.0)
    assert [c.hit.index for c in qa.retriever._neighbours(last, [middle, last], qv)] == [1]
