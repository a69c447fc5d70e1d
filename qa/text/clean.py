"""News text cleaning: page furniture out, byline kept aside, whitespace normalized."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Whole paragraphs that are page furniture, not reporting. Only short paragraphs are tested so
# that a real sentence that mentions a newsletter is never dropped.
_FURNITURE = re.compile(
    r"""^(
        (subscribe|sign\s*up|signup|register)\b.{0,60}
      | .{0,30}\bnewsletter(s)?(\s*sign[\s-]*up)?
      | please\s+wait\W*
      | thank\s+you\s+for\s+(signing|sign)\s*up\W*
      | thanks?\s+for\s+(reading|subscribing)\W*
      | (loading|advertisement|advertising|sponsored(\s+content)?)\W*
      | (share|tweet|email|print)(\s+(this|on|via)\b.{0,30})?
      | (read|see)\s+(more|also)\b.{0,60}
      | (follow|like)\s+us\s+on\b.{0,60}
      | click\s+here\b.{0,60}
      | (all\s+rights\s+reserved|copyright|©).{0,80}
      | (we\s+use\s+)?cookies?\b.{0,80}
      | (related|recommended|most\s+read|trending)(\s+(articles?|stories|news|content))?\W*
      | (skip\s+to\s+(main\s+)?content|back\s+to\s+top|menu|close|open\s+menu)\W*
      | (image|photo|video)\s*(credit|caption|source)?\s*:.{0,80}
      | you\s+(might|may)\s+also\s+like\W*
      | (updated|published)\s*:?\s*\d.{0,40}
    )$""",
    re.I | re.X,
)
_FURNITURE_MAX_CHARS = 120

# Furniture glued into running text (CNN/DailyMail pages: "... in 2014. Scroll down for video The
# white-cheeked macaque was ..."): no paragraph of its own, so it is cut out of the paragraph;
# otherwise it fuses with the next sentence, which is then lost as furniture. Only before a
# capital (the next sentence or caption) or at the end, so prose that mentions scrolling stays.
_INLINE_FURNITURE = re.compile(
    r"(?<!\w)(?i:scroll\s+down\s+for\s+(?:the\s+)?(?:videos?|more))\b[\s.:]*(?=[A-Z\"“‘']|$)"
)

_AGENCIES = r"(AFP|AP|Reuters|PA|DPA|ANSA|EFE|Xinhua|Bloomberg|CNN|BBC|Agencies|agencies|wires)"
_NAME = r"[A-Z][\w'’.-]+(?:\s+[A-Z][\w'’.-]+){0,3}"
_BYLINE = re.compile(
    rf"""^(
        (by|written\s+by|reporting\s+by)\s+{_NAME}((\s*,\s*|\s+and\s+){_NAME})*(\s*(,|and|with)\s+{_NAME})?
      | {_NAME}((\s*,\s*|\s+and\s+){_NAME})*\s*(,\s*)?(with|for|in|and)\s+{_AGENCIES}
      | [-–—]?\s*\(?{_AGENCIES}\)?
      | {_NAME}\s*[|/,]\s*{_AGENCIES}
    )\.?$""",
    re.X | re.I,
)
_BYLINE_MAX_WORDS = 12

# An agency dateline at the head of the article, glued to the lead ("New Delhi, India (CNN)As the
# earth shook ...", "LONDON, England (CNN) -- The ...", "WASHINGTON (AP) — The ..."): furniture that
# would open the lead sentence, and so every summary that cites it. Only at the very start and
# only before what starts a sentence, so an agency named in prose stays.
_DATELINE = re.compile(
    rf"""^(?:[A-Z][\w.'’-]*(?:,?\s+[A-Z][\w.'’-]*){{0,4}},?\s*)?
        \({_AGENCIES}(?:\s+[A-Z][\w.]*){{0,2}}\)
        \s*(?:(?:--|—|–|-)\s*)?(?=[A-Z0-9"“‘'])""",
    re.X,
)


@dataclass
class Cleaned:
    text: str
    byline: str | None
    dropped: list[str]


# Invisible format characters that shape text are kept: ZERO WIDTH JOINER (emoji sequences such as
# "woman technologist", U+1F469 U+200D U+1F4BB, and Indic scripts), ZERO WIDTH NON-JOINER (Persian,
# Indic) and the tag characters of subdivision flags (Scotland's). Other format characters (soft
# hyphen, zero-width space, word joiner, BOM, bidirectional marks and overrides) are dropped: they
# split words for search and can reorder what is shown. Variation selectors and skin tones are
# not format characters: they stay.
_KEPT_FORMAT = frozenset("\u200c\u200d") | frozenset(map(chr, range(0xE0020, 0xE0080)))


def _kept(c: str) -> bool:
    """Whether `normalize` keeps a character: all but controls (newline and tab aside), lone
    surrogates, private-use characters, noncharacters and format characters not in _KEPT_FORMAT.
    Unassigned code points stay: they may be characters newer than this Python's Unicode."""
    category = unicodedata.category(c)
    if category[0] != "C":
        return True
    if category == "Cn":
        n = ord(c)
        return not (0xFDD0 <= n <= 0xFDEF or n & 0xFFFE == 0xFFFE)
    return c in "\n\t" or c in _KEPT_FORMAT


def normalize(text: str) -> str:
    """NFC, unified newlines, no control characters (see `_kept`), single spaces, blank line
    between paragraphs."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(c for c in text if _kept(c))
    text = text.replace("\u00a0", " ").replace("\t", " ")
    lines = [re.sub(r" {2,}", " ", line).strip() for line in text.split("\n")]
    paras: list[str] = []
    current: list[str] = []
    for line in lines:
        if line:
            current.append(line)
        elif current:
            paras.append(" ".join(current))
            current = []
    if current:
        paras.append(" ".join(current))
    return "\n\n".join(paras)


def is_furniture(paragraph: str) -> bool:
    p = paragraph.strip()
    return len(p) <= _FURNITURE_MAX_CHARS and bool(_FURNITURE.match(p))


def is_byline(paragraph: str) -> bool:
    p = paragraph.strip()
    if len(p.split()) > _BYLINE_MAX_WORDS or p.endswith(("?", "!")):
        return False
    return bool(_BYLINE.match(p))


def clean(text: str) -> Cleaned:
    """Drop furniture paragraphs and pull a byline out, keeping the rest of the text as it is."""
    paras = normalize(text).split("\n\n") if text.strip() else []
    kept: list[str] = []
    dropped: list[str] = []
    byline: str | None = None
    for i, para in enumerate(paras):
        if is_furniture(para):
            dropped.append(para)
            continue
        inline = [m.group().strip() for m in _INLINE_FURNITURE.finditer(para)]
        if inline:
            dropped += inline
            para = _INLINE_FURNITURE.sub("", para).strip()
            if not para:
                continue
        dateline = _DATELINE.match(para) if not kept else None
        if dateline:
            dropped.append(dateline.group().strip())
            para = para[dateline.end() :]
        # A byline stands at the top or the bottom of an article (furniture aside).
        at_edge = i < 2 or all(is_furniture(p) or is_byline(p) for p in paras[i + 1 :])
        if at_edge and byline is None and is_byline(para):
            byline = para.strip()
            continue
        kept.append(para)
    return Cleaned(text="\n\n".join(kept), byline=byline, dropped=dropped)
