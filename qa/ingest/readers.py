"""Files -> clean Articles: txt, md, html and jsonl readers, with a reason for every refusal."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import InputError
from qa.ingest.web import decode, extract_page, soup_text
from qa.text.clean import clean, normalize
from qa.text.dates import normalize_date
from qa.types import Article

logger = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
MAX_TITLE_CHARS = 300  # a longer title (front matter, jsonl, API) is cut
MAX_JSONL_LINE = 5_000_000  # characters; a longer line is refused, the rest of the file is read

_ID_BAD = re.compile(r"[^\w.:\-]+")  # \w is Unicode: "Straße", "Москва" keep their letters
_DOC_ID_OK = re.compile(r"^[^\s@#~\x00-\x1f][^@#~\x00-\x1f]{0,255}$")


@dataclass
class Failure:
    """A file (or a line of a jsonl file) that could not become an article, and why."""

    path: str
    reason: str


def make_doc_id(name: str) -> str:
    """A doc id from a file name: its stem, letters of any script kept, anything else (spaces,
    slashes, '@#~', control characters) folded to '_'. A stem with nothing usable left gets a
    short hash of the name, so that two such files do not replace each other."""
    raw = unicodedata.normalize("NFC", Path(name).stem)
    stem = _ID_BAD.sub("_", raw).strip("._-")
    if not stem:
        stem = "article-" + hashlib.sha1(raw.encode("utf-8", "replace")).hexdigest()[:8]
    return stem[:200]


def check_doc_id(doc_id: Any) -> str:
    if not isinstance(doc_id, str) or not _DOC_ID_OK.fullmatch(doc_id):  # `$` would allow "id\n"
        raise InputError(
            f"doc_id {doc_id!r} is not usable: it must be a non-empty string of at most 256 "
            "characters without '@', '#', '~' or control characters."
        )
    return doc_id


_TEXT_FIELDS = ("doc_id", "title", "source", "published_at", "url", "byline", "canonical_url", "text")


def check_unicode(article: Article) -> None:
    """InputError naming the first field that is not valid Unicode: a lone surrogate (`"\\ud800"`
    in JSON) cannot be encoded, stored or hashed, so the article is refused, not the batch."""
    for name in _TEXT_FIELDS:
        value = getattr(article, name)
        if not value:
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(
                f"field {name!r} is not valid Unicode: a lone surrogate "
                f"({value[exc.start]!r}) at character {exc.start}"
            ) from None


def _checked_date(article: Article) -> None:
    """`published_at` normalized (qa.text.dates), or dropped with a warning on the article: an
    article is never stored with a date the range filters cannot read."""
    value = (article.published_at or "").strip()
    if not value:
        article.published_at = None
        return
    try:
        article.published_at = normalize_date(value)
    except ValueError:
        shown = value if len(value) <= 60 else value[:60] + "…"
        article.warnings = [
            *article.warnings,
            f"published_at {shown!r} is not an ISO 8601 date or datetime (such as 2023-09-11 or "
            "2023-09-11T08:30:00+02:00); the article is kept without a date",
        ]
        article.published_at = None


def content_hash(article: Article) -> str:
    payload = json.dumps(
        [
            article.text,
            article.title,
            article.source,
            article.published_at,
            article.url,
            article.byline,
            # only when set, so that articles stored before the field existed keep their hash
            *([article.canonical_url] if article.canonical_url else []),
        ],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def finish(article: Article) -> Article:
    """Check the fields, clean the text, keep the byline aside, fill the title if missing,
    normalize the date (or drop it with a warning), stamp the hash."""
    check_unicode(article)
    check_doc_id(article.doc_id)
    cleaned = clean(article.text)
    if not cleaned.text.strip():
        raise InputError("no article text left after removing page furniture")
    article.text = cleaned.text
    article.byline = article.byline or cleaned.byline
    article.title = " ".join(normalize(article.title).split())[:MAX_TITLE_CHARS]  # no NULs, no newlines
    if not article.title:
        article.title = _title_from_text(cleaned.text)
    article.source = " ".join(normalize(article.source).split())
    _checked_date(article)
    article.content_hash = content_hash(article)
    return article


def _title_from_text(text: str) -> str:
    first = text.split("\n\n", 1)[0]
    first = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
    if len(first) <= 100:
        return first
    return first[:100].rsplit(" ", 1)[0] + "…"


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file (symlinks followed), refused over `max_bytes`: by the size the
    file states, and by what is read, never more than max_bytes + 1 bytes. A FIFO, a device or a
    socket is refused without being read (a FIFO would block, /dev/zero never ends)."""
    not_regular = "not a regular file (a FIFO, device or socket is never read)"
    if not stat.S_ISREG(path.stat().st_mode):
        raise InputError(not_regular)
    # O_NONBLOCK: should the path be swapped for a FIFO after the check, opening it cannot hang.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    with open(os.open(path, flags | getattr(os, "O_BINARY", 0)), "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise InputError(not_regular)
        if st.st_size > max_bytes:
            raise InputError(
                f"file is {st.st_size:,} bytes, over the limit of {max_bytes:,} (QA_MAX_FILE_BYTES)"
            )
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(
            f"file is over the limit of {max_bytes:,} bytes (QA_MAX_FILE_BYTES): more was read "
            f"than the {st.st_size:,} bytes it states"
        )
    return data


def iter_files(paths: list[Path]) -> Iterator[Path | Failure]:
    """The article files under `paths` (folders recursively, hidden files skipped), sorted. A
    FIFO or device with an article's name is yielded too, for `read_file` to report, unread."""
    for path in paths:
        if not path.exists():
            yield Failure(str(path), "no such file or folder")
        elif path.is_dir():
            for p in sorted(path.rglob("*")):
                rel = p.relative_to(path).parts
                if p.exists() and not p.is_dir() and not any(part.startswith(".") for part in rel):
                    if p.suffix.lower() in SUFFIXES:
                        yield p
        elif path.suffix.lower() not in SUFFIXES:
            yield Failure(
                str(path),
                f"unsupported file type {path.suffix or '(none)'!r}; "
                f"qa reads {', '.join(SUFFIXES)}",
            )
        else:
            yield path


def read_file(path: Path, max_bytes: int) -> Iterator[Article | Failure]:
    """The articles in one file (several for jsonl), or Failures saying why not."""
    name = str(path)
    suffix = path.suffix.lower()
    try:
        data = read_capped(path, max_bytes)
        if not data.strip():
            yield Failure(name, "empty file")
            return
        text = decode(data, name, html=suffix in (".html", ".htm"))
        if not text.strip():
            yield Failure(name, "empty file (only whitespace)")
            return
    except InputError as exc:
        yield Failure(name, str(exc).removeprefix(f"{name}: "))
        return
    except OSError as exc:
        yield Failure(name, f"cannot read: {exc.strerror or exc}")
        return
    if suffix == ".jsonl":
        yield from read_jsonl(text, name)
        return
    doc_id = make_doc_id(path.name)
    try:
        if suffix in (".html", ".htm"):
            # A saved page keeps its file's doc id; its URL is the canonical one it names.
            article = parse_html(text, doc_id)
        elif suffix in (".md", ".markdown"):
            article = parse_markdown(text, doc_id)
        else:
            article = parse_text(text, doc_id)
        yield finish(article)
    except InputError as exc:
        yield Failure(name, str(exc).removeprefix(f"{doc_id}: "))


def parse_text(text: str, doc_id: str, **meta: Any) -> Article:
    """Plain text. A short first line with no closing punctuation is taken as the title."""
    lines = text.strip().split("\n", 1)
    first = lines[0].strip()
    title = ""
    if len(lines) > 1 and 0 < len(first) <= 150 and not first.endswith((".", "?", "!", "”", '"')):
        title, text = first, lines[1]
    return Article(doc_id=doc_id, title=meta.pop("title", "") or title, text=text, **meta)


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)


def parse_markdown(text: str, doc_id: str) -> Article:
    """Markdown rendered by markdown-it, then read like HTML; YAML-style front matter is metadata."""
    from markdown_it import MarkdownIt

    meta: dict[str, str] = {}
    m = _FRONT_MATTER.match(text)
    if m:
        for line in m.group(1).splitlines():
            key, sep, value = line.partition(":")
            if sep:
                meta[key.strip().lower()] = value.strip().strip("\"'")
        text = text[m.end() :]
    # Raw HTML in the Markdown goes through the HTML reader like a page's: <b> becomes its text,
    # <script>, <iframe> and the rest are dropped (escaped, they would be stored as visible text).
    html = MarkdownIt("commonmark").render(text)
    article = parse_html(html, doc_id, fragment=True)
    article.title = meta.get("title") or article.title
    article.source = meta.get("source", article.source)
    article.published_at = meta.get("published_at") or meta.get("date") or article.published_at
    article.url = meta.get("url", article.url)
    return article


def parse_html(html: str, doc_id: str, fragment: bool = False) -> Article:
    """A web page through `qa.ingest.web.extract_page` (trafilatura: main text and metadata).
    A fragment (Markdown's rendered HTML, which has no page furniture to tell apart from the
    article) through the BeautifulSoup reader: all its text, its <h1> as the title."""
    if not fragment:
        return extract_page(html, doc_id=doc_id)
    text, headline = soup_text(html)
    return Article(doc_id=doc_id, title=headline[:MAX_TITLE_CHARS], text=text)


def read_jsonl(text: str, name: str) -> Iterator[Article | Failure]:
    """One article per line in the eval schema (doc_id, title, source, published_at, url, text)."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        where = f"{name} line {lineno}"
        if not line.strip():
            continue
        if len(line) > MAX_JSONL_LINE:
            yield Failure(where, f"line is {len(line):,} characters, over {MAX_JSONL_LINE:,}")
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Failure(where, f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        except RecursionError:
            yield Failure(where, "JSON nested too deeply to read")
            continue
        try:
            yield finish(article_from_record(record, default_id=f"{make_doc_id(name)}-{lineno}"))
        except InputError as exc:
            yield Failure(where, str(exc))


def article_from_record(record: Any, default_id: str) -> Article:
    if not isinstance(record, dict):
        raise InputError(f"expected a JSON object, got {type(record).__name__}")
    text = record.get("text")
    if not isinstance(text, str):
        raise InputError(
            "missing field 'text'"
            if text is None
            else f"field 'text' must be a string, not {type(text).__name__}"
        )
    if not text.strip():
        raise InputError("field 'text' is empty")
    fields: dict[str, Any] = {}
    for key in ("title", "source", "published_at", "url"):
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            raise InputError(f"field {key!r} must be a string, not {type(value).__name__}")
        fields[key] = value
    doc_id = check_doc_id(record["doc_id"]) if record.get("doc_id") is not None else default_id
    return Article(
        doc_id=doc_id,
        text=text,
        title=fields["title"] or "",
        source=fields["source"] or "",
        published_at=fields["published_at"],
        url=fields["url"],
    )
