"""Score the offline extractive summarizer against Lead-3 on the CNN/DailyMail development set.

    python eval/summary_dev.py [--data ../shared/eval/summarization_cnndm_frank.jsonl] [--tune]

Pipeline per article: qa.clean.clean, qa.sentences.split, sentence vectors from the local
embedder (plain `embed_texts`, and contextual ones from `embed_chunks` over runs of consecutive
sentences that fit the model's window), then qa.summary_select.select_sentences. Scores are
ROUGE-1/2/Lsum F (rouge-score, stemming on; Lsum over sentences joined by newlines). The data file
is read where it lies: its licence does not allow copying it into the project.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

# Runs from a checkout without installing the package: the project root goes on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.embed.base import Embedder
from qa.embed.local import local_embedder  # noqa: E402
from qa.summarize.select import (  # noqa: E402
    DEFAULT_PARAMS,
    UNTUNED_PARAMS,
    SelectionParams,
    select_sentences,
)
from qa.text.clean import clean  # noqa: E402
from qa.text.sentences import split  # noqa: E402

# ../shared/eval next to the project, where development and CI keep the licensed files.
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/eval/summarization_cnndm_frank.jsonl"
METRICS = ("rouge1", "rouge2", "rougeLsum")


@dataclass
class Article:
    """One development article, split and embedded once for every run of the selector."""

    doc_id: str
    reference: str  # reference sentences joined by newlines, as rougeLsum wants
    raw_sentences: list[str]  # split of the text as given
    sentences: list[str]  # split of the cleaned text
    vectors: dict[str, np.ndarray]  # "plain" / "contextual" -> one row per sentence


def load_rows(path: Path) -> list[dict]:
    """The JSONL rows, or exit with a message saying where the file was expected."""
    if not path.is_file():
        sys.exit(
            f"summary_dev: data file not found: {path}\n"
            "It is not part of the project (its licence forbids copying); pass --data with the "
            "path of summarization_cnndm_frank.jsonl from the shared eval folder."
        )
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def sentence_texts(text: str) -> list[str]:
    """The sentences of `text` by qa.sentences.split."""
    return [text[s:e] for s, e in split(text)]


def contextual_vectors(embedder: Embedder, sentences: list[str]) -> np.ndarray:
    """Per-sentence vectors that saw their neighbours.

    Runs of consecutive sentences that fit the model's window are encoded together, and each
    sentence's word pieces are pooled on their own.
    """
    groups: list[list[int]] = []
    used = 0
    for i, s in enumerate(sentences):
        need = embedder.count_tokens(s) + 1  # +1: the joining space may start a word piece
        if groups and used + need <= embedder.max_tokens:
            groups[-1].append(i)
            used += need
        else:
            groups.append([i])
            used = need
    chunks: list[str] = []
    spans: list[list[tuple[int, int]]] = []
    for group in groups:
        at, chunk_spans = 0, []
        for i in group:
            chunk_spans.append((at, at + len(sentences[i])))
            at += len(sentences[i]) + 1
        chunks.append(" ".join(sentences[i] for i in group))
        spans.append(chunk_spans)
    _, per_chunk = embedder.embed_chunks(chunks, spans)
    return np.concatenate(per_chunk) if per_chunk else np.zeros((0, embedder.dim), np.float32)


def prepare(rows: list[dict], embedder: Embedder) -> list[Article]:
    """Clean, split and embed every article once (the machine is shared: no recomputing)."""
    articles = []
    for row in rows:
        sentences = sentence_texts(clean(row["text"]).text)
        articles.append(
            Article(
                doc_id=row["doc_id"],
                reference="\n".join(sentence_texts(row["reference_summary"])),
                raw_sentences=sentence_texts(row["text"]),
                sentences=sentences,
                vectors={
                    "plain": embedder.embed_texts(sentences),
                    "contextual": contextual_vectors(embedder, sentences),
                },
            )
        )
    return articles


class Scorer:
    """ROUGE F of summaries against the references, per article and averaged.

    Scores are cached by (article, summary): a grid revisits the same summaries again and again.
    """

    def __init__(self) -> None:
        from rouge_score import rouge_scorer

        self._scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, ...]] = {}

    def per_article(
        self, articles: Sequence[Article], summaries: Sequence[list[str]]
    ) -> np.ndarray:
        """Rows of (ROUGE-1, ROUGE-2, ROUGE-Lsum) F in percent, one per article."""
        rows = []
        for article, summary in zip(articles, summaries, strict=True):
            key = (article.doc_id, tuple(summary))
            if key not in self._cache:
                result = self._scorer.score(article.reference, "\n".join(summary))
                self._cache[key] = tuple(100 * result[m].fmeasure for m in METRICS)
            rows.append(self._cache[key])
        return np.array(rows).reshape(len(rows), len(METRICS))

    def __call__(self, articles: Sequence[Article], summaries: Sequence[list[str]]) -> dict:
        """Mean ROUGE F, and mean sentences and words per summary."""
        means = self.per_article(articles, summaries).mean(axis=0)
        out = dict(zip(METRICS, means.tolist(), strict=True))
        n = max(len(articles), 1)
        out["sentences"] = sum(len(s) for s in summaries) / n
        out["words"] = sum(len(" ".join(s).split()) for s in summaries) / n
        return out


def ours(articles: Sequence[Article], kind: str, params: SelectionParams) -> list[list[str]]:
    """Summaries from select_sentences with one kind of vectors and one setting."""
    out = []
    for a in articles:
        n = len(a.sentences)
        picked = select_sentences(
            a.sentences, a.vectors[kind], [0] * n, list(range(n)), params=params
        )
        out.append([a.sentences[i] for i in picked])
    return out


# The tuned knobs and the values tried.
GRID: dict[str, list[Any]] = {
    "first_step_words": [30.0, 40.0, 50.0, 60.0],
    "words_per_sentence": [20.0, 22.0, 25.0, 30.0, math.inf],
    "max_words": [40, 45, 50, 60, 1000],
    "centrality_weight": [0.0, 0.25, 0.5],
    "edge_threshold": [0.0, 0.6],
}


def tune(articles: Sequence[Article], kind: str, score: Scorer, *, splits: int = 200) -> None:
    """Print the best grid settings and an honest estimate of what tuning buys.

    The estimate tunes on a random half of the articles and scores the other half, many times:
    if the tuned gain over Lead-3 vanishes there, it was fitted to these 46 articles.
    """
    settings: list[dict[str, Any]] = [
        dict(zip(GRID, v, strict=True)) for v in itertools.product(*GRID.values())
    ]
    # ROUGE-1 + ROUGE-Lsum per setting and article: the quantity tuned.
    table = np.stack(
        [
            score.per_article(articles, ours(articles, kind, replace(DEFAULT_PARAMS, **s)))[
                :, [0, 2]
            ].sum(axis=1)
            for s in settings
        ]
    )
    lead = score.per_article(articles, [a.sentences[:3] for a in articles])[:, [0, 2]].sum(axis=1)
    means = table.mean(axis=1)
    print(f"\ngrid over {len(settings)} settings ({kind} vectors), ROUGE-1 + ROUGE-Lsum:")
    for i in np.argsort(-means, kind="stable")[:8]:
        print(f"  {means[i]:6.2f}  {settings[i]}")
    print(f"  Lead-3: {lead.mean():6.2f}")
    rng = np.random.default_rng(0)
    held_out, lead_out = [], []
    for _ in range(splits):
        perm = rng.permutation(len(articles))
        train, test = perm[: len(perm) // 2], perm[len(perm) // 2 :]
        best = int(np.argmax(table[:, train].mean(axis=1)))
        held_out.append(table[best, test].mean())
        lead_out.append(lead[test].mean())
    print(
        f"tuned on one half, scored on the other ({splits} splits): "
        f"ours {np.mean(held_out):.2f} vs Lead-3 {np.mean(lead_out):.2f}; ours ahead in "
        f"{100 * np.mean(np.array(held_out) > np.array(lead_out)):.0f}% of splits"
    )


def print_table(rows: list[tuple[str, dict]]) -> None:
    """The comparison table, one system per line."""
    head = f"{'system':<40} {'R1':>6} {'R2':>6} {'RLsum':>6} {'sents':>6} {'words':>6}"
    print(head)
    print("-" * len(head))
    for name, r in rows:
        print(
            f"{name:<40} {r['rouge1']:6.2f} {r['rouge2']:6.2f} {r['rougeLsum']:6.2f} "
            f"{r['sentences']:6.2f} {r['words']:6.1f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--tune", action="store_true", help="also run the tuning grid and its held-out check"
    )
    args = parser.parse_args(argv)

    rows = load_rows(args.data)
    articles = prepare(rows, local_embedder())
    score = Scorer()
    table = [
        ("Lead-3 (raw text split)", score(articles, [a.raw_sentences[:3] for a in articles])),
        ("Lead-3 (cleaned text split)", score(articles, [a.sentences[:3] for a in articles])),
    ]
    best_kind, best = "plain", -math.inf
    for kind in ("plain", "contextual"):
        for label, params in (("untuned", UNTUNED_PARAMS), ("tuned", DEFAULT_PARAMS)):
            result = score(articles, ours(articles, kind, params))
            table.append((f"ours, {label}, {kind} vectors", result))
            if label == "tuned" and result["rouge1"] + result["rougeLsum"] > best:
                best_kind, best = kind, result["rouge1"] + result["rougeLsum"]
    print(f"{len(articles)} articles from {args.data}")
    print_table(table)
    print(f"better vectors (tuned setting): {best_kind}")
    if args.tune:
        tune(articles, best_kind, score)


if __name__ == "__main__":
    main()
