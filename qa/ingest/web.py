"""Web pages -> Articles: main text and metadata (title, author, site, date, canonical URL) read
by trafilatura, whose extractor scores best on news pages among the maintained libraries; the
stable doc id of a page, derived from its canonical URL; and the HTML decoding and BeautifulSoup
reading that pages and Markdown's HTML fragments share.

The text returned here is raw extracted text: `qa.ingest.readers.finish` still cleans it (news
furniture, bylines) and checks the fields before anything is stored.
"""

from __future__ import annotations

import codecs
import email.utils
import hashlib
import logging
import re
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from qa.errors import InputError
from qa.text.dates import normalize_date
from qa.types import Article

logger = logging.getLogger(__name__)

# Why these trafilatura options (chosen for what each one does, not fitted to pages):
# - comments off: readers' comments are not the article; stored, they would be cited as if the
#   publisher had written them.
# - tables on: news tables (results, figures, polls) are part of the article body.
# - images, links, formatting off: plain text is what qa splits into sentences and cites.
# - neither favor_precision nor favor_recall: the balanced extractor, which already retries in
#   recall mode (and with readability and jusText) when it finds too little. On the 83
#   development pages favor_precision lost one article entirely and favor_recall's gain came
#   from one page while three others got worse (bench/extraction.py; see bench/README.md).
_EXTRACT_OPTIONS: dict[str, Any] = {
    "include_comments": False,
    "include_tables": True,
    "include_images": False,
    "include_links": False,
    "include_formatting": False,
    "favor_precision": False,
    "favor_recall": False,
    "deduplicate": False,
}

# Elements that never hold article text and that trafilatura's main extractor drops anyway; they
# are dropped before it runs so that its fallbacks (baseline, readability, jusText) cannot pick
# up their text either (a <noscript> notice, an iframe's fallback text, a button label).
# <form> stays: some sites (ASP.NET) wrap the whole page in one.
_NEVER_TEXT = (
    "script", "style", "noscript", "template", "iframe", "frame", "frameset", "fencedframe",
    "object", "embed", "applet", "button", "input", "select", "option", "datalist", "textarea",
    "svg", "canvas", "nav", "menu", "footer", "aside",
)  # fmt: skip

# A page-level <header> holding no headline and no article is the site's banner (logo, menu,
# search). Headers inside an article, or around its headline, stay: they can hold the lede.
_SITE_BANNER = "//header[not(ancestor::article or ancestor::main)][not(.//article or .//main or .//h1)]"

_WORD = re.compile(r"\w")


def _date_params() -> dict[str, Any]:
    """htmldate's settings: extensive search (dates in the text and URL too, not only in meta
    tags), the original publication date rather than a "last updated" one (a news article is
    dated by when it first appeared), and nothing after today."""
    return {
        "extensive_search": True,
        "original_date": True,
        "outputformat": "%Y-%m-%d",
        "max_date": datetime.now().strftime("%Y-%m-%d"),
    }


def extract_page(
    html: str | bytes,
    *,
    url: str | None = None,
    doc_id: str | None = None,
    fallback_date: str | None = None,
) -> Article:
    """The article of one web page: main text (menus, comments, related links left out), title,
    source (site name, else the URL's host), byline (author), published_at (the date htmldate
    finds, with its time when the page's publication meta tag gives one; else `fallback_date`,
    e.g. its feed item's date), url and canonical_url.

    `doc_id` defaults to `doc_id_for_url` of the canonical URL (else of `url`). Bytes are
    decoded like a saved page (`decode`). InputError naming the page when it has no article text.
    """
    import trafilatura
    from trafilatura.settings import Document

    name = url or doc_id or "web page"
    if isinstance(html, bytes):
        html = decode(html, name, html=True)
    if not html.strip():
        raise InputError(f"{name}: empty page, no article text")
    tree = _prepared_tree(html, name)
    canonical = canonical_url(tree, url)
    page_url = url or canonical
    try:
        doc = trafilatura.bare_extraction(
            tree,
            url=page_url,
            with_metadata=True,
            date_extraction_params=_date_params(),
            **_EXTRACT_OPTIONS,
        )
    except RecursionError as exc:
        raise InputError(f"{name}: HTML is nested too deeply to read") from exc
    text = doc.text if isinstance(doc, Document) else None
    if not isinstance(doc, Document) or not (text or "").strip():
        # trafilatura found nothing. lxml cuts a page nested deeper than libxml2's 255 levels
        # (what follows is lost), which the BeautifulSoup reader, walking with an explicit stack,
        # still reads; its metadata comes from the page's head, which trafilatura reads alone.
        text = _soup_page_text(html)
        doc = trafilatura.extract_metadata(tree, default_url=page_url, date_config=_date_params())
    lines = _body_lines(doc.body) if doc.body is not None and len(doc.body) else (text or "").splitlines()
    paragraphs = _paragraphs(lines, doc.title or "")
    if not paragraphs:
        raise InputError(
            f"{name}: no article text found in the page (it may be an index page, a login or "
            "consent wall, or text drawn by JavaScript)"
        )
    published = _with_time(doc.date, tree) if doc.date else _as_iso(fallback_date)
    id_url = canonical or page_url
    return Article(
        doc_id=doc_id or (doc_id_for_url(id_url) if id_url else "web-page"),
        title=(doc.title or "").strip(),
        text="\n\n".join(paragraphs),
        source=(doc.sitename or "").strip() or _host(page_url or ""),
        byline=(doc.author or "").strip() or None,
        published_at=published,
        url=page_url,
        canonical_url=canonical,
    )


def _prepared_tree(html: str, name: str) -> Any:
    """The page parsed by trafilatura's loader, with the elements that never hold article text
    dropped (their tails, the text after them, stay). JSON-LD scripts stay: they carry the
    publication date and author, and trafilatura's baseline reads an articleBody from them."""
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        raise InputError(f"{name}: not an HTML page that can be read")
    for element in tree.xpath("//" + " | //".join(_NEVER_TEXT) + " | " + _SITE_BANNER):
        if element.tag == "script" and (element.get("type") or "").lower() == "application/ld+json":
            continue
        if element.getparent() is None:
            continue
        if element.tag in _VOID_TAGS:
            # Void in HTML5, but libxml2 may nest what follows an unclosed <embed> inside it:
            # drop the tag, keep what it swallowed.
            element.drop_tag()
        else:
            element.drop_tree()
    return tree


# trafilatura's containers whose lines (list items, table rows, quoted paragraphs) are blocks of
# their own; any other top-level element (p, head) is one block unless it holds <lb> (a <br>).
_SPLIT_CONTAINERS = frozenset({"list", "table", "quote", "div"})


def _body_lines(body: Any) -> list[str]:
    """One line per block of trafilatura's extracted body, in its own plain-text rendering.

    Its text output ends every block with a newline, and so does its last-resort rescue (the
    whole page's text, one <p>) between any two text nodes, "the <b>United States</b> began"
    included: such newlines, in the text of an element with no <lb>, are not breaks."""
    from trafilatura.xml import xmltotxt

    out: list[str] = []
    for child in body:
        lines = [line.strip() for line in xmltotxt(child, False).splitlines()]
        if child.tag in _SPLIT_CONTAINERS or child.find(".//lb") is not None:
            out.extend(lines)  # an <lb> is a <br>: sites that write paragraphs with <br><br>
        else:
            out.append(" ".join(line for line in lines if line))
    return out


def _paragraphs(lines: list[str], title: str) -> list[str]:
    """trafilatura's blocks (paragraph, heading, list item, table row) as qa's paragraphs: qa's
    cleaning reads a blank line as the paragraph break, so furniture is judged, and sentences
    end, at block boundaries. The list marker trafilatura writes ("- ") is layout, not text; a
    block with no word in it (a lone "-", a "|---|" rule) has nothing to cite; a table row keeps
    the bars between its cells, not around them; and the headline repeated
    at the top is the title, not a sentence of the article."""
    out: list[str] = []
    for line in lines:
        line = line.strip()
        if line.startswith("- "):
            line = line[2:].strip()
        elif line.startswith("|") and line.endswith("|"):  # a table row: "| cell | cell |"
            line = line.strip("|").strip()
        if _WORD.search(line):
            out.append(line)
    headline = " ".join(title.split()).casefold()
    while out and headline and " ".join(out[0].split()).casefold() == headline:
        out.pop(0)
    return out


# Where pages state their publication time in standard markup (Open Graph, schema.org).
_PUBLISHED_XPATH = (
    '//meta[@property="article:published_time" or @name="article:published_time" '
    'or @itemprop="datePublished" or @property="og:published_time"][@content]/@content'
    ' | //*[@itemprop="datePublished"][@datetime]/@datetime'
)


def _with_time(day: str, tree: Any) -> str:
    """htmldate's day, or the page's publication datetime when its markup gives one on that same
    day: the time is kept when the page states it, never invented (htmldate would write
    T00:00:00 for a date without a time)."""
    for value in tree.xpath(_PUBLISHED_XPATH):
        raw = str(value).strip()
        try:
            iso = normalize_date(raw)
        except ValueError:
            continue
        if "T" in iso and iso[:10] == day:
            return raw
    return day


def _as_iso(value: str | None) -> str | None:
    """A fallback date (a feed item's) as ISO 8601: RSS dates are RFC 822 ("Tue, 19 Nov 2019
    08:00:00 GMT"); one that is neither is passed on for ingest to refuse with a warning."""
    if not value or not value.strip():
        return None
    try:
        return normalize_date(value)
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value.strip()).isoformat()
    except (TypeError, ValueError, IndexError):
        return value


_CANONICAL_XPATH = (
    '//head//link[@href][contains(concat(" ", normalize-space(translate(@rel, '
    '"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")), " "), " canonical ")]/@href'
)
_OG_URL_XPATH = '//head//meta[@property="og:url" or @name="og:url"][@content]/@content'


def canonical_url(html: str | Any, base_url: str | None = None) -> str | None:
    """The page's canonical URL: `<link rel="canonical">`, else `og:url`, made absolute against
    `base_url`; None when the page names none (or only something that is not an http(s) URL).

    trafilatura's `url` metadata mixes these with the URL it was given, so it cannot tell
    whether the page named a canonical URL at all; this reads the two tags directly.
    """
    from trafilatura.utils import load_html

    tree = load_html(html) if isinstance(html, (str, bytes)) else html
    if tree is None:
        return None
    for xpath in (_CANONICAL_XPATH, _OG_URL_XPATH):
        for value in tree.xpath(xpath):
            href = str(value).strip()
            if not href:
                continue
            absolute = urljoin(base_url, href) if base_url else href
            parts = urlsplit(absolute)
            if parts.scheme.lower() in ("http", "https") and parts.netloc:
                return absolute
    return None


def _host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def normalize_url(url: str) -> str:
    """`url` in one spelling: scheme and host lower-case, default port, fragment and tracking
    parameters (utm_*, fbclid, gclid, ref, ...) dropped, remaining parameters sorted.

    courlan (trafilatura's URL library, installed with it) knows the tracking parameters; it
    keeps fragments, which name a place in a page, not another page, so they are dropped here.
    """
    from courlan import normalize_url as courlan_normalize

    raw = url.strip()
    try:
        normalized = courlan_normalize(raw)
    except (ValueError, AttributeError):
        normalized = raw
    parts = urlsplit(normalized)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


_ID_UNSAFE = re.compile(r"[^\w.\-]+")


def doc_id_for_url(url: str) -> str:
    """A stable doc id for the article at `url` (give it the canonical URL when the page names
    one): the host, then a hash of the normalized URL, so that every spelling of the same URL
    (tracking parameters, fragment, letter case of scheme and host) gets the same id and a
    corrected article replaces its earlier version."""
    if not url or not url.strip():
        raise InputError("cannot derive a doc id from an empty URL")
    normalized = normalize_url(url)
    host = _ID_UNSAFE.sub("_", _host(normalized)).strip("._-") or "web"
    digest = hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:16]
    return f"{host[:100]}-{digest}"


# --- Decoding: bytes -> text, for every file qa reads; HTML is the case with charsets. ---------

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


# --- The BeautifulSoup reader: Markdown's HTML fragments, and pages lxml cannot build. ---------

_DROP_TAGS = (
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "iframe", "svg", "button", "select", "input", "textarea", "object", "embed", "canvas", "menu",
    "dialog", "figure", "picture", "video", "audio",
)  # fmt: skip
_VOID_TAGS = frozenset({"embed", "input", "source", "track", "param", "wbr", "area", "img", "keygen"})
_BLOCK_TAGS = (
    "p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol",
    "blockquote", "pre", "table", "tr", "td", "th", "br", "hr", "dd", "dt", "figcaption",
)  # fmt: skip


def soup_text(html: str, *, drop_headline: bool = True) -> tuple[str, str]:
    """(text, first <h1>) of HTML read with BeautifulSoup (lxml): scripts, styles, navigation,
    forms and embedded things dropped, a paragraph break around every block. The <h1> is taken
    out of the text when `drop_headline` (the headline is a title, not a sentence)."""
    from bs4 import BeautifulSoup

    try:
        soup = BeautifulSoup(html, "lxml")
        headline = ""
        h1 = soup.find("h1")
        if h1 is not None:
            headline = h1.get_text(" ", strip=True)
            if drop_headline:
                h1.decompose()
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
        return _block_text(body), headline
    except RecursionError as exc:
        raise InputError("HTML is nested too deeply to read") from exc


def _soup_page_text(html: str) -> str:
    text, _ = soup_text(html)
    # one line per paragraph, as trafilatura writes its text
    return "\n".join(" ".join(p.split()) for p in text.split("\n\n") if p.strip())


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
