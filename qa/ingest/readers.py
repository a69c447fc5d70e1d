"""Files -> clean Articles: txt, md, html and jsonl readers, with a reason for every refusal."""

from __future__ import annotations

import codecs
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
from qa.text.clean import clean, normalize
from qa.text.dates import normalize_date
from qa.types import Article

logger = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
MAX_TITLE_CHARS = 300  # a longer title (front matter, jsonl, API) is cut
MAX_JSONL_LINE = 5_000_000  # characters; a longer line is refused, the rest of the file is read

_BINARY_MAGIC = (
    b"\x89PNG",
    b"PK\x03\x04",
    b"%PDF",
    b"\xff\xd8\xff",
    b"GIF8",
    b"\x1f\x8b",
    b"BZh",
    b"7z\xbc\xaf",
)
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


_TEXT_FIELDS = ("doc_id", "title", "source", "published_at", "url", "byline", "text")


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


def decode(data: bytes, name: str, *, html: bool = False) -> str:
    """Bytes -> text: BOMs honoured, otherwise strict UTF-8; binary files refused. HTML that is
    not UTF-8 is read in the charset it declares, else in the one charset-normalizer finds."""
    head = data[:8192]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}: has a UTF-16 byte-order mark but is not UTF-16") from exc
    if data.startswith(_BINARY_MAGIC) or b"\x00" in head:
        raise InputError(f"{name}: binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if html:
            return _decode_html(data, name, exc)
        raise InputError(
            f"{name}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            help="Save the file as UTF-8 and ingest it again.",
        ) from exc


# Labels browsers read as windows-1252 (WHATWG Encoding): pages labelled Latin-1 use its quotes.
_AS_BROWSERS_READ = {"iso8859-1": "cp1252", "ascii": "cp1252"}


def _decode_html(data: bytes, name: str, not_utf8: UnicodeDecodeError) -> str:
    """A page that is not UTF-8: in the charset its <meta> (or XML declaration) names, else in
    charset-normalizer's best guess; InputError when it names a charset its bytes do not fit, or
    when no charset fits at all."""
    from bs4.dammit import EncodingDetector

    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    if declared:
        try:
            codec = codecs.lookup(declared).name
        except LookupError:
            raise InputError(f"{name}: declares an unknown charset {declared!r}") from None
        for candidate in dict.fromkeys((_AS_BROWSERS_READ.get(codec, codec), codec)):
            try:
                return data.decode(candidate)
            except UnicodeDecodeError:
                continue
        raise InputError(f"{name}: declares charset {declared!r}, which its bytes are not in")
    import charset_normalizer

    found = charset_normalizer.from_bytes(data)
    best = found.best()
    # Latin-script text often fits several Windows code pages equally well (French fits 1250 as
    # well as 1252): a tie goes to windows-1252, the HTML standard's default for undeclared pages.
    best = next((m for m in found if best is not None and "cp1252" in m.could_be_from_charset
                 and (m.chaos, m.coherence) == (best.chaos, best.coherence)), best)
    if best is None:
        raise InputError(
            f"{name}: not valid UTF-8 (byte 0x{data[not_utf8.start]:02x} at offset "
            f"{not_utf8.start}), and no charset is declared or recognized",
            help="Add <meta charset=...> to the page, or save it as UTF-8.",
        )
    return str(best)


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
    try:
        if suffix in (".html", ".htm"):
            article = parse_html(text, make_doc_id(path.name))
        elif suffix in (".md", ".markdown"):
            article = parse_markdown(text, make_doc_id(path.name))
        else:
            article = parse_text(text, make_doc_id(path.name))
        yield finish(article)
    except InputError as exc:
        yield Failure(name, str(exc))


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


_DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "iframe",
    "svg",
    "button",
    "select",
    "input",
    "textarea",
    "object",
    "embed",
    "canvas",
    "menu",
    "dialog",
    "figure",
    "picture",
    "video",
    "audio",
)
_VOID_TAGS = frozenset({"embed", "input", "source", "track", "param", "wbr", "area", "img", "keygen"})
_BLOCK_TAGS = (
    "p",
    "div",
    "section",
    "article",
    "main",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "blockquote",
    "pre",
    "table",
    "tr",
    "td",
    "th",
    "br",
    "hr",
    "dd",
    "dt",
    "figcaption",
)


def parse_html(html: str, doc_id: str, fragment: bool = False) -> Article:
    """Article text of an HTML page with BeautifulSoup (lxml): scripts, styles, navigation out."""
    from bs4 import BeautifulSoup

    try:
        soup = BeautifulSoup(html, "lxml")
        title = ""
        meta: dict[str, str | None] = {"published_at": None, "source": None, "url": None}
        if not fragment:
            title = _meta(soup, "og:title") or (
                soup.title.get_text(" ", strip=True) if soup.title else ""
            )
            meta["published_at"] = _meta(soup, "article:published_time") or _time(soup)
            meta["source"] = _meta(soup, "og:site_name")
            meta["url"] = _meta(soup, "og:url")
        h1 = soup.find("h1")
        if h1 is not None:
            title = title or h1.get_text(" ", strip=True)
            h1.decompose()  # the headline is the title, not a sentence of the article
        for tag in soup(_DROP_TAGS):
            if tag.decomposed:  # inside a tag dropped before it
                continue
            if tag.name in _VOID_TAGS:
                # Void in HTML5, but lxml may nest what follows an unclosed <embed> inside it:
                # drop the tag, keep what it swallowed.
                tag.unwrap()
            else:
                tag.decompose()
        body = soup.find("article") or soup.find("main") or soup.body or soup
        text = _block_text(body)
    except RecursionError as exc:
        raise InputError("HTML is nested too deeply to read") from exc
    return Article(
        doc_id=doc_id,
        title=title[:300],
        text=text,
        source=meta["source"] or "",
        published_at=meta["published_at"],
        url=meta["url"],
    )


def _block_text(root: Any) -> str:
    """`root.get_text()` with a paragraph break around every block element.

    An explicit stack, not recursion and not tree edits: 100,000 nested <div>s cost one linear
    pass (inserting separators into the tree, as before, was quadratic in the depth).
    """
    from bs4 import NavigableString, Tag

    wanted = getattr(root, "interesting_string_types", None) or Tag.MAIN_CONTENT_STRING_TYPES
    out: list[str] = []
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        if closing:
            out.append("\n\n")
        elif isinstance(node, NavigableString):
            if type(node) in wanted:  # text and CDATA; not comments, doctypes, scripts
                out.append(str(node))
        elif isinstance(node, Tag):
            if node is not root and node.name in _BLOCK_TAGS:
                out.append("\n\n")
                stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
    return "".join(out)


def _meta(soup: Any, prop: str) -> str | None:
    tag = soup.find("meta", attrs={"property": prop}) or soup.find("meta", attrs={"name": prop})
    content = tag.get("content") if tag else None
    return str(content).strip() if content else None


def _time(soup: Any) -> str | None:
    tag = soup.find("time", attrs={"datetime": True})
    return str(tag["datetime"]).strip() if tag else None


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
