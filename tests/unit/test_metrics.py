"""Metrics on small hand-made cases whose values were worked out by hand."""

from __future__ import annotations

import pytest

from qa.evaluation import metrics as m
from qa.evaluation.score import report_comparison, report_markdown, score

pytestmark = pytest.mark.unit


# --- normalization and sentence matching ---------------------------------------------------


def test_normalize_text_folds_case_quotes_width_and_spaces() -> None:
    assert m.normalize_text("  \u201cHello\u201d\n\t World\u2019s  ") == '"hello" world\'s'
    assert m.normalize_text("\uff21BC") == "abc"  # NFKC folds the full-width letter


def test_sentences_match_ignores_quote_style_and_spacing() -> None:
    assert m.sentences_match("He said \u201cyes\u201d  today.", 'he said "yes" today.')


def test_evidence_inside_a_longer_cited_sentence_matches() -> None:
    assert m.sentences_match("Intro words. The cat sat on the mat.", "The cat sat on the mat.")


def test_short_fragment_inside_evidence_does_not_match() -> None:
    evidence = "He was born in Paris in 2014."
    assert not m.sentences_match("in 2014.", evidence)  # 2 tokens, below the floor
    assert m.sentences_match("born in Paris in 2014.", evidence)  # 5 tokens


def test_jaccard_threshold_is_inclusive() -> None:
    evidence = "alpha beta gamma delta"
    # Same words reordered plus one: 4 shared of 5 -> 0.8, a match.
    assert m.sentences_match("delta gamma beta alpha epsilon", evidence)
    # Plus two: 4 of 6 -> 0.667, no match.
    assert not m.sentences_match("delta gamma beta alpha epsilon zeta", evidence)


def test_cited_sentences_splits_chunks_and_counts_characters() -> None:
    citations = [{"text": "One is here. Two is there."}, {"text": "Three."}]
    assert m.cited_sentences(citations) == ["One is here.", "Two is there.", "Three."]
    assert m.cited_chars(citations) == 26 + 6


# --- retrieval ------------------------------------------------------------------------------

RANKED = ["d3", "d1", "d9", "d2"]


def test_recall_hit_and_reciprocal_rank() -> None:
    gold = ["d1", "d2"]
    assert m.recall_at_k(RANKED, gold, 1) == 0.0
    assert m.recall_at_k(RANKED, gold, 2) == 0.5
    assert m.recall_at_k(RANKED, gold, 4) == 1.0
    assert m.hit_at_k(RANKED, gold, 1) == 0.0
    assert m.hit_at_k(RANKED, gold, 2) == 1.0
    assert m.reciprocal_rank(RANKED, gold) == 0.5
    assert m.reciprocal_rank(RANKED, ["d7"]) == 0.0


def test_retrieval_metrics_are_undefined_without_gold() -> None:
    assert m.recall_at_k(RANKED, [], 5) is None
    assert m.hit_at_k(RANKED, [], 5) is None
    assert m.reciprocal_rank(RANKED, []) is None


def test_lenient_figures_accept_a_silver_document() -> None:
    gold, silver = ["d2"], ["d3"]
    assert m.recall_at_k(RANKED, gold, 1) == 0.0
    assert m.lenient_recall_at_k(RANKED, gold, silver, 1) == 1.0
    assert m.lenient_hit_at_k(RANKED, gold, silver, 1) == 1.0
    assert m.lenient_reciprocal_rank(RANKED, gold, silver) == 1.0
    # Without a silver hit the lenient recall is the gold recall.
    assert m.lenient_recall_at_k(RANKED, ["d1", "d2"], ["d8"], 2) == 0.5


# --- citations ------------------------------------------------------------------------------

GOLD = ["The tower was built in 1889.", "It is 330 metres tall."]
CHUNK = {"text": "Paris has a tower.  The tower   was built in 1889. Tourists like it."}


def test_evidence_recall_counts_gold_sentences_inside_citations() -> None:
    assert m.evidence_recall([CHUNK], GOLD) == 0.5
    assert m.evidence_recall([CHUNK, {"text": "it is 330 metres tall"}], GOLD) == 1.0
    assert m.evidence_recall([], GOLD) == 0.0
    assert m.evidence_recall([CHUNK], []) is None


def test_evidence_recall_with_silver_is_one_when_any_is_cited() -> None:
    silver = ["Tourists like it."]
    assert m.evidence_recall([{"text": "Tourists like it."}], GOLD, silver) == 1.0
    assert m.evidence_recall([{"text": "Nothing relevant here."}], GOLD, silver) == 0.0


def test_citation_precision_is_share_of_cited_sentences_that_are_evidence() -> None:
    cited = m.cited_sentences([CHUNK])
    assert len(cited) == 3
    assert m.citation_precision(cited, GOLD) == pytest.approx(1 / 3)
    assert m.citation_precision([], GOLD) is None


# --- answers --------------------------------------------------------------------------------


def test_exact_match_and_f1_use_squad_normalization() -> None:
    assert m.exact_match("The Eiffel Tower!", "eiffel tower") == 1.0
    assert m.exact_match("Eiffel", "eiffel tower") == 0.0
    # pred {chief, of, protocol}, gold {chief, of, protocol, of, us}: P=1, R=3/5, F1=0.75
    assert m.token_f1("the Chief of Protocol", "Chief of Protocol of US") == pytest.approx(0.75)
    assert m.token_f1("nothing shared", "Chief of Protocol") == 0.0


def test_answer_contained_looks_at_answer_and_citations_by_whole_words() -> None:
    cites = ["They moved to Adelaide Cottage last year."]
    assert m.answer_contained("See the sources.", cites, "Adelaide Cottage") == 1.0
    assert m.answer_contained("Brian did it.", [], "Ian") == 0.0
    assert m.answer_contained("Ian did it.", [], "Ian") == 1.0


def test_yes_no_answers_are_judged_on_the_answer_alone() -> None:
    cites = ["Yes, both are American."]
    assert m.answer_contained("No, they are not.", cites, "yes") == 0.0
    assert m.answer_contained("Yes, both are.", [], "Yes") == 1.0
    assert m.answer_contained("Both are, so the answer is yes.", [], "yes") == 1.0
    # Says both words: no verdict.
    assert m.yes_no_verdict("Maybe yes, maybe no.") is None
    assert m.is_yes_no("No") and not m.is_yes_no("Norway")


# --- abstention, LLM, latency -----------------------------------------------------------------


def test_abstention_rates() -> None:
    items = [(True, False), (True, True), (False, True), (False, False), (False, True)]
    on_null, false_abstain = m.abstention_rates(items)
    assert on_null == pytest.approx(2 / 3)
    assert false_abstain == 0.5
    assert m.abstention_rates([(True, False)]) == (None, 0.0)


def test_abstention_curve_abstains_below_each_threshold() -> None:
    items = [(True, 0.9), (True, 0.2), (False, 0.1), (False, 0.5)]
    curve = m.abstention_curve(items, thresholds=[0.0, 0.3, 0.6, 1.0])
    assert curve == [(0.0, 0.0, 0.0), (0.3, 0.5, 0.5), (0.6, 1.0, 0.5), (1.0, 1.0, 1.0)]


def test_default_curve_ends_abstaining_on_everything() -> None:
    curve = m.abstention_curve([(True, 0.9), (False, 0.1)])
    assert curve[0] == (0.1, 0.0, 0.0)
    assert curve[-1][1:] == (1.0, 1.0)


def test_claim_support_pools_claims_and_skips_answers_without() -> None:
    claims = [
        [{"support": "supported"}, {"support": "partial"}],
        None,
        [{"support": "supported"}, {"support": "unsupported"}],
    ]
    shares = m.claim_support(claims)
    assert shares == {"n_claims": 4, "supported": 0.5, "partial": 0.25, "unsupported": 0.25}
    assert m.claim_support([None])["supported"] is None
    assert m.mean_dropped_citations([2, None, 0, 1]) == 1.0


def test_latency_percentiles_interpolate() -> None:
    # p95 position = 4 * 0.95 = 3.8, between 40 and 50.
    assert m.latency_percentiles([50, 10, 30, 20, 40]) == {"p50": 30.0, "p95": 48.0, "mean": 30.0}
    assert m.latency_percentiles([])["p50"] is None


# --- summaries ------------------------------------------------------------------------------


def test_rouge_by_hand() -> None:
    # unigrams: 3 of 3 predicted are in the 6 of the reference: P=1, R=0.5, F=2/3.
    # bigrams: 2 of 2 predicted among 5 reference bigrams: P=1, R=0.4, F=4/7.
    scores = m.rouge("the cat sat", "the cat sat on the mat")
    assert scores["rouge1"] == pytest.approx(2 / 3)
    assert scores["rouge2"] == pytest.approx(4 / 7)
    assert m.rouge("A dog ran. It barked.", "A dog ran. It barked.")["rougeLsum"] == 1.0


def test_rouge_stems() -> None:
    assert m.rouge("cats running", "cat runs")["rouge1"] == 1.0


def test_lead3_takes_first_three_sentences() -> None:
    assert m.lead3("One. Two is here. Three it is. Four.") == "One. Two is here. Three it is."
    assert m.lead3("Only one.") == "Only one."


# --- score and report -----------------------------------------------------------------------

QUESTIONS = [
    {
        "qid": "q1",
        "question": "When was the tower built?",
        "gold_answer": "1889",
        "gold_evidence": GOLD,
        "doc_ids": ["d1"],
        "type": "bridge",
    },
    {
        "qid": "q2",
        "question": "Who won in 2030?",
        "gold_answer": "Insufficient information.",
        "gold_evidence": [],
        "doc_ids": [],
        "type": "null_query",
    },
    {
        "qid": "q3",
        "question": "Missing?",
        "gold_answer": "x",
        "gold_evidence": [],
        "doc_ids": ["d2"],
        "type": "bridge",
    },
]
PREDICTIONS = [
    {
        "qid": "q1",
        "answer": "It was built in 1889.",
        "abstained": False,
        "citations": [CHUNK],
        "retrieved_doc_ids": ["d4", "d1"],
        "mode": "extractive",
        "timings_ms": {"total": 100.0},
        "confidence": 0.8,
    },
    {
        "qid": "q2",
        "answer": "I cannot answer that from the articles.",
        "abstained": True,
        "citations": [],
        "retrieved_doc_ids": ["d1"],
        "mode": "extractive",
        "timings_ms": {"total": 300.0},
        "confidence": 0.1,
    },
    {"qid": "stray", "answer": "", "abstained": True, "citations": []},
]


def test_score_matches_by_qid_and_reports_missing() -> None:
    s = score(QUESTIONS, PREDICTIONS)
    assert s["counts"]["scored"] == 2
    assert s["counts"]["missing"] == 1 and s["missing_qids"] == ["q3"]
    assert s["counts"]["unknown_predictions"] == 1
    overall = s["overall"]
    assert overall["retrieval"]["gold"]["recall@1"] == 0.0
    assert overall["retrieval"]["gold"]["mrr"] == 0.5
    assert "gold_or_silver" not in overall["retrieval"]
    assert overall["citations"]["evidence_recall"] == 0.5
    assert overall["citations"]["precision"] == pytest.approx(1 / 3)
    # Per answer means skip the abstention on q2.
    assert overall["citations"]["mean_citations"] == 1.0
    assert overall["answers"]["contained"] == 1.0
    assert overall["answers"]["f1"] == pytest.approx(2 * 0.2 * 1 / 1.2)  # 1 of 5 tokens
    assert overall["abstention"]["abstain_on_null"] == 1.0
    assert overall["abstention"]["false_abstain"] == 0.0
    assert overall["latency_ms"]["p50"] == 200.0
    assert "llm" not in overall
    assert set(s["by_type"]) == {"bridge", "null_query"}
    assert s["by_type"]["null_query"]["answers"]["f1"] is None


def test_abstaining_on_an_answerable_question_scores_zero() -> None:
    abstained = [{**PREDICTIONS[0], "abstained": True}]
    overall = score(QUESTIONS[:1], abstained)["overall"]
    assert overall["citations"]["evidence_recall"] == 0.0
    assert overall["answers"]["contained"] == 0.0
    assert overall["abstention"]["false_abstain"] == 1.0


def test_score_reports_silver_and_llm_sections() -> None:
    q = {**QUESTIONS[0], "silver_doc_ids": ["d4"], "silver_evidence": ["Tourists like it."]}
    p = {
        **PREDICTIONS[0],
        "claims": [{"text": "x", "citations": [1], "support": "supported", "score": 0.9}],
        "dropped_citations": 2,
    }
    overall = score([q], [p])["overall"]
    assert overall["retrieval"]["gold_or_silver"]["recall@1"] == 1.0
    assert overall["retrieval"]["gold"]["recall@1"] == 0.0
    assert overall["citations"]["evidence_recall"] == 1.0
    assert overall["citations"]["precision"] == pytest.approx(2 / 3)
    assert overall["llm"]["claims"]["supported"] == 1.0
    assert overall["llm"]["mean_dropped_citations"] == 2.0


def test_report_markdown_has_tables_and_flags_missing() -> None:
    s = score(QUESTIONS, PREDICTIONS)
    text = report_markdown(s, "Test run")
    assert text.startswith("# Test run\n")
    assert "**1 questions have no prediction** (q3)" in text
    assert "| evidence recall | 0.500 |" in text
    assert "| null_query |" in text
    assert "## Abstention by confidence threshold" in text
    table = report_comparison({"a": s, "b": s}, "Side by side")
    assert table.count("| a |") == 1 and table.count("| b |") == 1
