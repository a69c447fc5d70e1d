"""Feeds: RSS 2.0 and Atom feeds (read by feedparser) whose new items are fetched and ingested.

The registry lives in QA_HOME/feeds.sqlite3: one row per feed (its URL, name, the validators of
its last answer for a conditional GET, when it was last refreshed and how many items were new
or failed), and one row per item seen (so an item is fetched once, and an item that failed is
tried again, up to MAX_TRIES, while its feed still lists it). SQLite because it is in the
standard library, safe for several processes sharing one QA_HOME, and a registry is a handful
of small tables.

A refresh fetches each feed (one 304 when it has not changed), resolves its item links against
the feed's URL, skips items already ingested (from this feed or another one: the same article
in two feeds is ingested once), and hands the new links to `QA.ingest_urls` with each item's
date as the date to keep when the page names none. The validators are saved only after the
items are ingested, so a refresh cut short fetches the whole feed again next time.

`start_feed_scheduler(qa)` refreshes every feed every QA_FEED_REFRESH_MINUTES in a daemon thread
(`qa serve` starts it; 0 minutes, the default, starts nothing).
"""

from __future__ import annotations

import io
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin, urlsplit

from pydantic import BaseModel, Field

from qa.errors import InputError, NotFoundError, PartialIngest
from qa.types import IngestResult

if TYPE_CHECKING:
    from qa.ingest.fetch import Fetcher
    from qa.ingest.indexing import Progress
    from qa.service import QA

__all__ = [
    "FeedInfo",
    "FeedItem",
    "FeedRegistry",
    "FeedReport",
    "FeedScheduler",
    "parse_feed",
    "refresh_feeds",
    "start_feed_scheduler",
]

logger = logging.getLogger(__name__)

MAX_TRIES = 3  # an item that failed this often is not fetched again
_REFRESH_LOCK = threading.Lock()  # one refresh at a time in a process (scheduler, web button)

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL DEFAULT '',
    added_at TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_refresh TEXT,
    last_status TEXT,
    last_error TEXT,
    last_new INTEGER NOT NULL DEFAULT 0,
    last_failed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS items (
    feed_url TEXT NOT NULL,
    key TEXT NOT NULL,
    link TEXT NOT NULL,
    status TEXT NOT NULL,
    doc_id TEXT,
    reason TEXT NOT NULL DEFAULT '',
    tries INTEGER NOT NULL DEFAULT 0,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (feed_url, key)
);
CREATE INDEX IF NOT EXISTS items_by_link ON items (link);
"""


class FeedInfo(BaseModel):
    """A registered feed, as `qa feeds list` and the Library tab show it."""

    url: str
    name: str
    title: str = ""
    added_at: str
    last_refresh: str | None = None
    last_status: str | None = Field(
        default=None, description="'refreshed', 'unchanged' (a 304) or 'failed', of the last refresh."
    )
    last_error: str | None = None
    last_new: int = Field(default=0, description="Items stored by the last refresh.")
    last_failed: int = Field(default=0, description="Items that failed in the last refresh.")
    items: int = Field(default=0, description="Items of this feed in the library.")


class FeedItem(BaseModel):
    """One entry of a feed: its key (guid, else link), absolute link, title and date."""

    key: str
    link: str
    title: str = ""
    published_at: str | None = None


class FeedReport(BaseModel):
    """What one refresh did to one feed, with a result per new item."""

    feed: FeedInfo
    status: Literal["refreshed", "unchanged", "failed"]
    reason: str = ""
    items: list[IngestResult] = Field(default_factory=list)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _is_ok(status: str) -> bool:
    return status in ("added", "replaced", "unchanged")


class FeedRegistry:
    """The feeds of one QA_HOME and the items seen in them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        # A connection per operation: the registry is used from the web app's threads and the
        # scheduler's; SQLite's own locking serializes processes.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30)
        con.row_factory = sqlite3.Row
        try:
            con.executescript(SCHEMA)
            with con:
                yield con
        finally:
            con.close()

    def _info(self, con: sqlite3.Connection, row: sqlite3.Row) -> FeedInfo:
        (n,) = con.execute(
            "SELECT count(*) FROM items WHERE feed_url = ? AND status IN ('added','replaced','unchanged')",
            (row["url"],),
        ).fetchone()
        data = {k: row[k] for k in row.keys() if k in FeedInfo.model_fields}
        return FeedInfo(**data, items=n)

    def add(self, url: str, name: str | None = None) -> FeedInfo:
        from qa.ingest.fetch import FetchError, check_url

        try:
            parsed = check_url(url)
        except FetchError as exc:
            raise InputError(f"{url}: {exc.reason}") from None
        url = str(parsed)
        name = (name or "").strip()
        with self._db() as con:
            if con.execute("SELECT 1 FROM feeds WHERE url = ?", (url,)).fetchone():
                raise InputError(f"The feed {url} is already registered.")
            if name:
                if con.execute("SELECT 1 FROM feeds WHERE name = ?", (name,)).fetchone():
                    raise InputError(f"A feed is already named {name!r}; choose another --name.")
            else:
                base = parsed.host.removeprefix("www.") or "feed"
                name, n = base, 1
                while con.execute("SELECT 1 FROM feeds WHERE name = ?", (name,)).fetchone():
                    n += 1
                    name = f"{base}-{n}"
            con.execute("INSERT INTO feeds (url, name, added_at) VALUES (?, ?, ?)", (url, name, _now()))
            row = con.execute("SELECT * FROM feeds WHERE url = ?", (url,)).fetchone()
            return self._info(con, row)

    def all(self) -> list[FeedInfo]:
        with self._db() as con:
            rows = con.execute("SELECT * FROM feeds ORDER BY name").fetchall()
            return [self._info(con, r) for r in rows]

    def find(self, url_or_name: str) -> FeedInfo:
        key = (url_or_name or "").strip()
        with self._db() as con:
            row = con.execute("SELECT * FROM feeds WHERE name = ? OR url = ?", (key, key)).fetchone()
            if row is None and key:  # a URL spelled otherwise than when it was added
                from qa.ingest.fetch import FetchError, check_url

                try:
                    row = con.execute(
                        "SELECT * FROM feeds WHERE url = ?", (str(check_url(key)),)
                    ).fetchone()
                except FetchError:  # not a URL: not found below
                    row = None
            if row is None:
                raise NotFoundError(f"No feed is named or has the URL {key!r} (see `qa feeds list`).")
            return self._info(con, row)

    def remove(self, url_or_name: str) -> FeedInfo:
        feed = self.find(url_or_name)
        with self._db() as con:
            con.execute("DELETE FROM items WHERE feed_url = ?", (feed.url,))
            con.execute("DELETE FROM feeds WHERE url = ?", (feed.url,))
        return feed

    def validators(self, url: str) -> tuple[str | None, str | None]:
        with self._db() as con:
            row = con.execute("SELECT etag, last_modified FROM feeds WHERE url = ?", (url,)).fetchone()
        return (row["etag"], row["last_modified"]) if row else (None, None)

    def pending(self, feed_url: str, items: list[FeedItem]) -> list[FeedItem]:
        """The items not yet ingested from this feed (new, or failed fewer than MAX_TRIES)."""
        with self._db() as con:
            known = {
                r["key"]: (r["status"], r["tries"])
                for r in con.execute("SELECT key, status, tries FROM items WHERE feed_url = ?", (feed_url,))
            }
        out = []
        for it in items:
            status, tries = known.get(it.key, ("", 0))
            if not status or (status == "failed" and tries < MAX_TRIES):
                out.append(it)
        return out

    def ingested_elsewhere(self, link: str, feed_url: str) -> tuple[str, str | None] | None:
        """(feed name, doc id) when another feed's item with this link was ingested."""
        with self._db() as con:
            row = con.execute(
                "SELECT f.name, i.doc_id FROM items i JOIN feeds f ON f.url = i.feed_url "
                "WHERE i.link = ? AND i.feed_url != ? AND i.status IN ('added','replaced','unchanged')",
                (link, feed_url),
            ).fetchone()
        return (row[0], row[1]) if row else None

    def record_items(self, feed_url: str, done: list[tuple[FeedItem, IngestResult]]) -> None:
        with self._db() as con:
            for it, r in done:
                con.execute(
                    "INSERT INTO items (feed_url, key, link, status, doc_id, reason, tries, seen_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT (feed_url, key) DO UPDATE SET "
                    "link = excluded.link, status = excluded.status, doc_id = excluded.doc_id, "
                    "reason = excluded.reason, tries = items.tries + 1, seen_at = excluded.seen_at",
                    (feed_url, it.key, it.link, r.status, r.doc_id, r.reason, _now()),
                )

    def record_refresh(
        self,
        url: str,
        status: str,
        *,
        error: str | None = None,
        new: int = 0,
        failed: int = 0,
        title: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        validators: bool = False,
    ) -> FeedInfo:
        with self._db() as con:
            con.execute(
                "UPDATE feeds SET last_refresh = ?, last_status = ?, last_error = ?, last_new = ?, "
                "last_failed = ?, title = coalesce(?, title) WHERE url = ?",
                (_now(), status, error, new, failed, title, url),
            )
            if validators:
                con.execute(
                    "UPDATE feeds SET etag = ?, last_modified = ? WHERE url = ?", (etag, last_modified, url)
                )
            row = con.execute("SELECT * FROM feeds WHERE url = ?", (url,)).fetchone()
            return self._info(con, row)


def _entry_date(entry: Any) -> str | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        t = entry.get(key)
        if t:
            try:
                return time.strftime("%Y-%m-%d", t)
            except (TypeError, ValueError):
                continue
    return None


def parse_feed(body: bytes, url: str, content_type: str = "") -> tuple[str, list[FeedItem]]:
    """(feed title, items) of a feed document fetched from `url`; InputError when the body is
    not a feed feedparser can read. Relative item links are resolved against `url`. A feed
    that is malformed past some items (truncated, a bad entity) keeps the items read before:
    the log says so."""
    import feedparser

    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    # A stream, never bytes or str: feedparser opens a str that looks like a URL (fetching it
    # past every check of qa.ingest.fetch) and tries bytes as a local file name first.
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    entries = parsed.get("entries") or []
    if not entries and (parsed.get("bozo") or not parsed.get("version")):
        exc = parsed.get("bozo_exception")
        why = " ".join(str(exc).split())[:200] if exc else "no RSS or Atom root element"
        raise InputError(f"not a feed feedparser can read (malformed: {why})")
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        why = " ".join(str(exc).split())[:200] if exc else "malformed"
        logger.info("feed %s is malformed (%s); read as far as it goes", url, why)
    title = " ".join(str(parsed.get("feed", {}).get("title", "")).split())
    items: list[FeedItem] = []
    keys: set[str] = set()
    for e in entries:
        link = _entry_link(e, url)
        if not link:
            continue
        key = str(e.get("id") or "").strip() or link
        if key in keys:
            continue
        keys.add(key)
        items.append(
            FeedItem(
                key=key,
                link=link,
                title=" ".join(str(e.get("title", "")).split()),
                published_at=_entry_date(e),
            )
        )
    return title, items


def _entry_link(entry: Any, base: str) -> str | None:
    """The item's article link, absolute: its alternate link, else its link, else a guid
    that is a permalink URL."""
    candidates: list[str] = []
    for link in entry.get("links") or []:
        if link.get("href") and link.get("rel", "alternate") == "alternate":
            candidates.append(link["href"])
    if entry.get("link"):
        candidates.append(entry["link"])
    guid = str(entry.get("id") or "")
    if entry.get("guidislink") or guid.startswith(("http://", "https://")):
        candidates.append(guid)
    for href in candidates:
        absolute = urljoin(base, str(href).strip())  # feedparser resolves most; a bare RSS <link> too
        if urlsplit(absolute).scheme in ("http", "https"):
            return absolute
    return None


def refresh_feeds(
    qa: QA,
    registry: FeedRegistry,
    feeds: list[FeedInfo],
    *,
    fetcher: Fetcher | None = None,
    progress: Progress | None = None,
) -> list[FeedReport]:
    """Refresh `feeds`: fetch each (conditionally), ingest its new items, record what happened.
    One feed or item failing never stops the others."""
    from qa.ingest.fetch import Fetcher

    own = fetcher is None
    f = fetcher or Fetcher(qa.settings)
    try:
        with _REFRESH_LOCK:
            return _refresh(qa, registry, feeds, f, progress)
    finally:
        if own:
            f.close()


def _refresh(
    qa: QA, registry: FeedRegistry, feeds: list[FeedInfo], fetcher: Fetcher, progress: Progress | None
) -> list[FeedReport]:
    reports: dict[str, FeedReport] = {}
    plans: dict[str, list[FeedItem]] = {}  # feed url -> its items to ingest
    fetched: dict[str, Any] = {}
    titles: dict[str, str] = {}
    skipped: dict[str, list[tuple[FeedItem, IngestResult]]] = {}
    links: dict[str, str | None] = {}  # link -> fallback date; one fetch per link in a refresh
    owner: dict[str, FeedInfo] = {}  # link -> the first feed listing it in this refresh
    for feed in feeds:
        etag, modified = registry.validators(feed.url)
        got = fetcher.fetch(feed.url, "feed", etag=etag, last_modified=modified)
        if got.status == "not_modified":
            info = registry.record_refresh(feed.url, "unchanged")
            reports[feed.url] = FeedReport(feed=info, status="unchanged", reason="not modified (HTTP 304)")
            continue
        if not got.ok:
            info = registry.record_refresh(feed.url, "failed", error=got.reason)
            reports[feed.url] = FeedReport(feed=info, status="failed", reason=got.reason)
            continue
        try:
            titles[feed.url], items = parse_feed(got.body, got.final_url or feed.url, got.content_type)
        except InputError as exc:
            info = registry.record_refresh(feed.url, "failed", error=str(exc))
            reports[feed.url] = FeedReport(feed=info, status="failed", reason=str(exc))
            continue
        fetched[feed.url] = got
        todo: list[FeedItem] = []
        skipped[feed.url] = []
        for it in registry.pending(feed.url, items):
            other = registry.ingested_elsewhere(it.link, feed.url)
            if other is not None:
                name, doc_id = other
                r = IngestResult(path=it.link, doc_id=doc_id, status="unchanged",
                                 reason=f"already ingested from the feed {name}")
                skipped[feed.url].append((it, r))
                continue
            todo.append(it)
            links.setdefault(it.link, it.published_at)
            owner.setdefault(it.link, feed)
        plans[feed.url] = todo

    by_url: dict[str, IngestResult] = {}
    error: PartialIngest | None = None
    if links:
        try:
            results = qa.ingest_urls(list(links), progress, fallback_dates=links, fetcher=fetcher)
        except PartialIngest as exc:  # the store failed: record what was done, then say so
            results, error = exc.results, exc
        by_url = {r.path: r for r in results}

    for feed in feeds:
        if feed.url not in plans:
            continue
        done = list(skipped[feed.url])
        for it in plans[feed.url]:
            got_r = by_url.get(it.link)
            if got_r is None:
                continue
            r = got_r.model_copy()
            first = owner[it.link]
            if first.url != feed.url and r.status in ("added", "replaced"):
                # The same article in two feeds: fetched and stored once, for the first.
                r.status, r.reason = "unchanged", f"already ingested from the feed {first.name}"
            done.append((it, r))
        registry.record_items(feed.url, done)
        new = sum(r.status in ("added", "replaced") for _, r in done)
        failed = sum(r.status == "failed" for _, r in done)
        got = fetched[feed.url]
        complete = error is None
        info = registry.record_refresh(
            feed.url, "refreshed" if complete else "failed",
            error=None if complete else str(error), new=new, failed=failed, title=titles.get(feed.url),
            etag=got.etag, last_modified=got.last_modified, validators=complete,
        )
        reports[feed.url] = FeedReport(
            feed=info, status="refreshed" if complete else "failed",
            reason="" if complete else f"stopped by a store failure: {error}",
            items=[r for _, r in done],
        )
    out = [reports[f.url] for f in feeds if f.url in reports]
    if error is not None:
        raise PartialIngest(error.cause, [r for rep in out for r in rep.items])
    return out


class FeedScheduler:
    """Refreshes every feed of a QA every `minutes` in a daemon thread, the first time at once."""

    def __init__(self, qa: QA, minutes: float) -> None:
        self.qa = qa
        self.interval = minutes * 60
        self.refreshes = 0  # completed refreshes (a test waits on it)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qa-feeds", daemon=True)

    def start(self) -> FeedScheduler:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._thread.join(timeout)
        with _SCHEDULER_LOCK:
            if _SCHEDULERS.get(self.qa) is self:
                del _SCHEDULERS[self.qa]

    def _run(self) -> None:
        delay = 0.0
        while not self._stop.wait(delay):
            delay = self.interval
            try:
                reports = self.qa.feeds_refresh()
            except Exception as exc:  # noqa: BLE001 - a failed refresh must not end the schedule
                logger.warning("feed refresh failed: %s", " ".join(str(exc).split()))
            else:
                new = sum(r.feed.last_new for r in reports)
                failed = sum(r.feed.last_failed for r in reports)
                logger.info("feeds refreshed: %d feeds, %d new items, %d failed", len(reports), new, failed)
                for r in reports:
                    if r.status == "failed":
                        logger.info("feed %s: %s", r.feed.name, r.reason)
            self.refreshes += 1


_SCHEDULERS: weakref.WeakKeyDictionary[QA, FeedScheduler] = weakref.WeakKeyDictionary()
_SCHEDULER_LOCK = threading.Lock()


def start_feed_scheduler(qa: QA) -> FeedScheduler | None:
    """Start refreshing feeds every QA_FEED_REFRESH_MINUTES; None when that is 0 (off). Called
    again for the same QA, it returns the scheduler already running."""
    minutes = qa.settings.feed_refresh_minutes
    if minutes <= 0:
        return None
    with _SCHEDULER_LOCK:
        running = _SCHEDULERS.get(qa)
        if running is not None:
            return running
        logger.info("refreshing feeds every %g minutes", minutes)
        scheduler = _SCHEDULERS[qa] = FeedScheduler(qa, minutes).start()
        return scheduler
