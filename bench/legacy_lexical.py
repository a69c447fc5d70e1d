"""The yardstick for bench/incremental.py: qa's lexical index before SQLite FTS5, kept as it was
(bm25s over every visible sentence, a cache named by the store's fingerprint, rebuilt from
Chroma after any change). Not used by qa itself."""

from __future__ import annotations

import json
import logging
import math
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from qa.store import Store
from qa.text.words import content_words

logger = logging.getLogger(__name__)

Key = tuple[str, int]  # (doc_id, sentence index)


def _bm25s() -> Any:
    import bm25s

    # bm25s sets its logger to DEBUG when imported; let the application's logging decide.
    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


UNSEEN_WEIGHT = 2.0


class LegacyLexicalIndex:
    """BM25 (bm25s) over every visible sentence: a cache rebuilt from Chroma when stale.

    The cache on disk is named by the store's fingerprint (doc ids and versions), so a stale
    index is never used, and deleting the cache folder only costs a rebuild.
    """

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._fingerprint: str | None = None
        # (BM25 index, the key of each indexed sentence, stemmed content word -> sentences
        # containing it), swapped as one: a search running while another request rebuilds the
        # index after a change keeps reading one consistent state.
        self._state: tuple[Any, list[Key], dict[str, int]] = (None, [], {})
        self._lock = threading.Lock()
        self._stemmer: Any = None

    @property
    def df(self) -> dict[str, int]:
        return self._state[2]

    def _tokenize(self, texts: list[str]) -> Any:
        bm25s = _bm25s()

        if self._stemmer is None:
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english")
        return bm25s.tokenize(texts, stopwords="en", stemmer=self._stemmer, show_progress=False)

    def ensure(self, store: Store) -> None:
        fingerprint = store.catalog().fingerprint()
        if fingerprint == self._fingerprint:
            return
        with self._lock:
            if fingerprint == self._fingerprint:
                return
            if not self._load(fingerprint):
                self._build(store, fingerprint)
            self._fingerprint = fingerprint

    def _load(self, fingerprint: str) -> bool:
        bm25s = _bm25s()

        path = self.cache_dir / fingerprint
        if not (path / "keys.json").exists():
            return False
        try:
            retriever = bm25s.BM25.load(str(path))
            keys = [tuple(k) for k in json.loads((path / "keys.json").read_text())]
            self._state = (retriever, keys, json.loads((path / "df.json").read_text()))
            return True
        except Exception as exc:  # a damaged cache is rebuilt, never trusted
            logger.warning("lexical cache %s unreadable (%s); rebuilding", path, exc)
            return False

    def _build(self, store: Store, fingerprint: str) -> None:
        bm25s = _bm25s()

        keys: list[Key] = []
        texts: list[str] = []
        for doc_id, index, text in store.all_sentences():
            keys.append((doc_id, index))
            texts.append(text)
        df: dict[str, int] = {}
        for text in texts:
            for w in self.terms(text):
                df[w] = df.get(w, 0) + 1
        if not texts:
            self._state = (None, keys, df)
            return
        retriever = bm25s.BM25()
        retriever.index(self._tokenize(texts), show_progress=False)
        self._state = (retriever, keys, df)
        # Old caches are dropped: only the current fingerprint is ever valid.
        if self.cache_dir.exists():
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        path = self.cache_dir / fingerprint
        try:
            path.mkdir(parents=True, exist_ok=True)
            retriever.save(str(path))
            (path / "df.json").write_text(json.dumps(df))
            (path / "keys.json").write_text(json.dumps(keys))
        except OSError as exc:  # a full disk, say: the index built is used from memory
            shutil.rmtree(path, ignore_errors=True)  # never half a cache, and its space back
            logger.warning("could not save the lexical cache to %s (%s); using it from memory", path, exc)

    def terms(self, text: str) -> set[str]:
        """Stemmed content words of a text, as the answerability score compares them."""
        if self._stemmer is None:
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english")
        return set(self._stemmer.stemWords(sorted(content_words(text))))

    def idf(self, term: str) -> float:
        """Rarer words weigh more; a word found in no sentence weighs most of all."""
        _, keys, dfs = self._state
        n = max(1, len(keys))
        df = dfs.get(term, 0)
        # A word no stored sentence contains is the strongest sign that the answer is not here.
        return math.log(1.0 + n / (df + 0.5)) * (UNSEEN_WEIGHT if df == 0 else 1.0)

    def search(
        self, query: str, n: int, allow: Callable[[str], bool] | None = None
    ) -> list[tuple[Key, float]]:
        retriever, keys, _ = self._state
        if retriever is None or not keys:
            return []
        scores = self._scores(retriever, query)
        if scores is None:
            return []
        want = min(len(keys), n * 4 if allow else n)
        top = np.argpartition(-scores, want - 1)[:want] if want < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))]  # best first; ties in index order
        out: list[tuple[Key, float]] = []
        for i in top:
            s = float(scores[i])
            if s <= 0:
                break
            key = keys[int(i)]
            if allow is None or allow(key[0]):
                out.append((key, s))
                if len(out) >= n:
                    break
        return out

    def _scores(self, retriever: Any, query: str) -> np.ndarray | None:
        """BM25 score of every sentence for `query` (None when no query word is indexed).

        The same scores as bm25s's `retrieve`, summed with np.bincount over the postings of the
        query's words: bm25s's numpy path uses np.add.at, ~15x slower on 100k+ sentences.
        """
        bm25s = _bm25s()

        if self._stemmer is None:
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english")
        words = bm25s.tokenize(
            [query], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )[0]
        vocab = retriever.vocab_dict
        ids = [vocab[w] for w in words if w in vocab]
        if not ids:
            return None
        index = retriever.scores
        indptr = index["indptr"]
        postings = np.concatenate([np.arange(indptr[i], indptr[i + 1]) for i in ids])
        scores = np.bincount(
            index["indices"][postings], weights=index["data"][postings], minlength=index["num_docs"]
        )
        if retriever.nonoccurrence_array is not None:
            scores += retriever.nonoccurrence_array[ids].sum()
        return scores
