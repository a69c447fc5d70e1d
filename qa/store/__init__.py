"""Store: the only package that imports chromadb. Articles, sentences and chunks in Chroma,
written as versions that become visible atomically; locks, the journal of pending writes,
the catalog, index rebuilds and health checks.

One module a job: `store` (the `Store` the rest of qa uses, composing the others), `connection`
(the client, retries, errors), `locks`, `journal`, `rebuild` (torn vector indexes), `catalog`,
`records` (ids, metadata, parsing), `health` (the consistency check)."""

from qa.store.catalog import ArticleMeta, Catalog
from qa.store.health import Health
from qa.store.records import ArticleWrite, SentenceHit
from qa.store.store import Store

__all__ = ["ArticleMeta", "ArticleWrite", "Catalog", "Health", "SentenceHit", "Store"]
