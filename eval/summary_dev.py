"""Score the offline extractive summarizer against Lead-3 on the CNN/DailyMail items, by split.

    python eval/summary_dev.py [--data ../shared/eval] [--split validate] [--resamples 2000]

Items: summarization_cnndm_frank.jsonl (22 tune, 24 validate) and summarization_cnndm_more.jsonl
(150 tune) from the data folder. Pipeline per article, as ingest and the Summarizer run it:
qa.text.clean, qa.text.sentences.split with ingest's cut of over-long pieces (qa.text.chunking),
plain sentence vectors from the local embedder (`embed_texts`), then
qa.summarize.select.select_sentences with the shipped sentence model. Scores are ROUGE-1/2/Lsum F
in percent (rouge-score, stemming on; Lsum over sentences joined by newlines); Lead-3 is the first
three sentences of the cleaned text. Each margin (qa minus Lead-3) comes with a seeded percentile
bootstrap 95% interval over items. The selection was fitted and chosen on the tune items
(eval/train_summary_model.py), so tune figures are fitted figures; validate figures are the result.
`qa eval summarize --split validate` measures the same through the whole product (ingest, store,
citations).

The data files are read where they lie: their licence (CNN/DailyMail via FRANK: MIT for FRANK,
the articles for research use) does not allow copying them into the project.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Runs from a checkout without installing the package: the project root goes on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.embed.base import Embedder  # noqa: E402
from qa.evaluation.compare import bootstrap_margin  # noqa: E402
from qa.summarize.scorer import SentenceModel  # noqa: E402
from qa.summarize.select import DEFAULT_PARAMS, SelectionParams, select_sentences  # noqa: E402
from qa.text.clean import clean  # noqa: E402
from qa.text.sentences import split  # noqa: E402

# ../shared/eval next to the project, where development and CI keep the licensed files.
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/eval"
FILES = ("summarization_cnndm_frank.jsonl", "summarization_cnndm_more.jsonl")
METRICS = ("rouge1", "rouge2", "rougeLsum")
LABELS = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeLsum": "ROUGE-Lsum"}


@dataclass
class Article:
    """One item, split and embedded once for every run of the selector."""

    doc_id: str
    split: str
    reference: list[str]  # reference sentences (ROUGE-Lsum wants them on lines)
    sentences: list[str]  # split of the cleaned text: what the store holds
    vectors: np.ndarray  # plain sentence vectors, one row per sentence


def load_items(data: Path, splits: Sequence[str]) -> list[dict]:
    """The items of `splits` from FILES in `data`, or exit saying where they were expected."""
    rows: list[dict] = []
    for name in FILES:
        path = data / name
        if not path.is_file():
            sys.exit(
                f"data file not found: {path}\nIt is not part of the project (its licence forbids "
                "copying); pass --data with the shared eval folder that holds it."
            )
        with path.open(encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if r.get("split") in splits]


def sentence_texts(text: str) -> list[str]:
    """The sentences of `text` by qa.text.sentences.split."""
    return [text[s:e] for s, e in split(text)]


def stored_sentences(text: str, embedder: Embedder) -> list[str]:
    """The sentences the store holds for `text` (ingest's cleaning and qa.text.chunking, which
    also cuts a "sentence" too long for the embedder's window), so that what is scored here is
    what `qa summarize` chooses from. The items have no title."""
    from qa.settings import Settings
    from qa.text.chunking import sentences_of
    from qa.types import Article as Doc

    budget = min(Settings().chunk_max_tokens, embedder.max_tokens)
    doc = Doc(doc_id="item", text=clean(text).text)
    offsets = getattr(embedder, "token_offsets", None)
    sentences, _ = sentences_of(doc, embedder.count_tokens, offsets, budget)
    return [s.text for s in sentences]


def prepare(rows: list[dict], embedder: Embedder) -> list[Article]:
    """Clean, split and embed every article once (the machine is shared: no recomputing)."""
    out = []
    for row in rows:
        sentences = stored_sentences(row["text"], embedder)
        out.append(
            Article(
                doc_id=row["doc_id"],
                split=row["split"],
                reference=sentence_texts(row["reference_summary"]),
                sentences=sentences,
                vectors=embedder.embed_texts(sentences),
            )
        )
    return out


class Scorer:
    """ROUGE F (percent) of summaries against the references, cached by (article, summary)."""

    def __init__(self) -> None:
        from rouge_score import rouge_scorer

        self._scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, ...]] = {}

    def __call__(self, article: Article, summary: Sequence[str]) -> np.ndarray:
        """(ROUGE-1, ROUGE-2, ROUGE-Lsum) F in percent of one summary."""
        key = (article.doc_id, tuple(summary))
        if key not in self._cache:
            result = self._scorer.score("\n".join(article.reference), "\n".join(summary))
            self._cache[key] = tuple(100 * result[m].fmeasure for m in METRICS)
        return np.array(self._cache[key])

    def table(self, articles: Sequence[Article], summaries: Sequence[Sequence[str]]) -> np.ndarray:
        """One row of (ROUGE-1, ROUGE-2, ROUGE-Lsum) per article."""
        rows = [self(a, s) for a, s in zip(articles, summaries, strict=True)]
        return np.array(rows).reshape(len(rows), len(METRICS))


def summarize(
    article: Article,
    params: SelectionParams = DEFAULT_PARAMS,
    model: SentenceModel | None = None,
) -> list[str]:
    """qa's summary of one article (as select_sentences picks for a one-article summary)."""
    n = len(article.sentences)
    picked = select_sentences(
        article.sentences, article.vectors, [0] * n, list(range(n)), params=params, model=model
    )
    return [article.sentences[i] for i in picked]


def lead3(article: Article) -> list[str]:
    """The first three sentences of the cleaned text, as `qa eval summarize` takes them."""
    return article.sentences[:3]


def report(name: str, articles: Sequence[Article], score: Scorer, resamples: int) -> None:
    """ROUGE of qa and Lead-3 on `articles`, and each margin with its bootstrap interval."""
    ours = [summarize(a) for a in articles]
    lead = [lead3(a) for a in articles]
    qa_table, lead_table = score.table(articles, ours), score.table(articles, lead)
    words = np.mean([len(" ".join(s).split()) for s in ours])
    sentences = np.mean([len(s) for s in ours])
    print(f"\n{name}: {len(articles)} articles; qa {sentences:.2f} sentences, {words:.1f} words")
    print(f"{'metric':<11} {'qa':>6} {'Lead-3':>7} {'margin':>7}  95% interval")
    for j, metric in enumerate(METRICS):
        b = bootstrap_margin(qa_table[:, j] - lead_table[:, j], resamples=resamples)
        print(
            f"{LABELS[metric]:<11} {qa_table[:, j].mean():6.2f} {lead_table[:, j].mean():7.2f} "
            f"{b['margin']:+7.2f}  {b['low']:+.2f} to {b['high']:+.2f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared eval folder")
    parser.add_argument(
        "--split", choices=("tune", "validate", "both"), default="both", help="items to score"
    )
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    args = parser.parse_args(argv)

    from qa.embed.local import local_embedder

    splits = ("tune", "validate") if args.split == "both" else (args.split,)
    articles = prepare(load_items(args.data, splits), local_embedder())
    score = Scorer()
    for name in splits:
        chosen = [a for a in articles if a.split == name]
        label = "tune (fitted on these: not a result)" if name == "tune" else "validate"
        report(label, chosen, score, args.resamples)


if __name__ == "__main__":
    main()
