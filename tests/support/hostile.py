"""The hostile corpus: broken, binary, malicious and oversized inputs, made on demand.

Nothing here is committed as data: `write_corpus(folder)` writes the files (a few MB in all) and
returns what each must do; `write_big(path, n_bytes)` writes the 50 MB text at test time.

    python -m tests.support.hostile /tmp/hostile     # to look at the corpus, or ingest it by hand
"""

from __future__ import annotations

import io
import json
import random
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

GOOD_SENTENCE = "The harbour council approved the new ferry budget on Monday."


@dataclass(frozen=True)
class Case:
    """One hostile file and what ingesting it must do.

    expect: "refused" (every result failed, `reason` in each reason), "ingested" (an article is
    stored; `present` strings in its text, `absent` strings in no stored text), or "mixed" (a jsonl
    file: `ok` articles stored and `failed` lines refused, with `reasons` among the reasons).
    `warnings`: strings among the warnings of the stored articles (a field refused, the article
    kept).
    """

    name: str
    data: bytes
    expect: str
    reason: str = ""
    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    ok: int = 0
    failed: int = 0
    reasons: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = ()


def png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\x00" + bytes([200, 30, 30] * 8) for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def zip_file() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("article.txt", GOOD_SENTENCE * 50)
    return buf.getvalue()


def long_line(n_chars: int = 200_000, seed: int = 7) -> str:
    """One line of words and no punctuation at all."""
    rng = random.Random(seed)
    words = ["harbour", "council", "budget", "river", "minister", "ferry", "talks", "vote", "bridge"]
    out: list[str] = []
    size = 0
    while size < n_chars:
        w = f"{rng.choice(words)}{rng.randint(0, 99)}"
        out.append(w)
        size += len(w) + 1
    return " ".join(out)[:n_chars].strip()


def nested_html(depth: int = 100_000) -> str:
    return (f"<html><head><title>Deep</title></head><body>{'<div>' * depth}"
            f"<p>{GOOD_SENTENCE}</p>{'</div>' * depth}</body></html>")


SCRIPTED_HTML = f"""<!doctype html><html><head><title>Council news</title>
<script>var token = 'SCRIPT_SECRET'; document.write('DOCWRITE');</script>
<style>body {{ background: url('STYLE_URL') }}</style>
<meta http-equiv="refresh" content="0; url=https://evil.example/META_REFRESH"></head>
<body onload="alert('ONLOAD_HANDLER')"><!-- COMMENT_SECRET -->
<article><h1 onmouseover="alert('H1_HANDLER')">Ferry budget</h1>
<p onclick="alert('CLICK_HANDLER')">{GOOD_SENTENCE}</p>
<iframe src="https://evil.example/" srcdoc="<p>SRCDOC_TEXT</p>">IFRAME_TEXT</iframe>
<p>Read the <a href="javascript:alert('JS_URL')">full report</a> of the vote.</p>
<img src="x" onerror="alert('ONERROR_HANDLER')" alt="IMG_ALT">
<noscript>NOSCRIPT_TEXT</noscript><template>TEMPLATE_TEXT</template>
<svg onload="alert('SVG_HANDLER')"><script>SVG_SCRIPT</script></svg>
<object data="x.swf">OBJECT_TEXT</object><embed src="x.swf">
<form action="/steal"><input value="INPUT_VALUE"><button>BUTTON_TEXT</button></form>
<script type="text/template">TEMPLATE_SCRIPT</script>
<p>The mayor said the vote had been close.</p></article></body></html>"""

SCRIPTED_MD = f"""---
title: Council news
---
{GOOD_SENTENCE}

<script>alert('MD_SCRIPT')</script>

<iframe src="https://evil.example/">MD_IFRAME</iframe>

The mayor <b onclick="alert('MD_HANDLER')">said</b> the vote had been close.
"""

_HANDLERS = ("SCRIPT_SECRET", "DOCWRITE", "STYLE_URL", "META_REFRESH", "ONLOAD_HANDLER", "COMMENT_SECRET",
             "H1_HANDLER", "CLICK_HANDLER", "SRCDOC_TEXT", "IFRAME_TEXT", "JS_URL", "javascript",
             "ONERROR_HANDLER", "IMG_ALT", "NOSCRIPT_TEXT", "TEMPLATE_TEXT", "SVG_HANDLER",
             "SVG_SCRIPT", "OBJECT_TEXT", "INPUT_VALUE", "BUTTON_TEXT", "TEMPLATE_SCRIPT", "alert",
             "<script", "onclick", "onerror")


def _jsonl(*lines: object) -> bytes:
    return "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode() + b"\n"


CAFE = "Le café crème coûte 3 € depuis lundi, a déclaré le propriétaire du café de la gare."


def _page(head: str, body: str) -> str:
    return f"<html><head>{head}<title>Prix</title></head><body><article><p>{body}</p></article></body></html>"


def _emoji_text() -> str:
    return ("The 👩\u200d💻 developer ❤\ufe0f coding. Soft\u00adhyphen and zero\u200bwidth and "
            "word\u2060joiner and \u202ereversed\u202c text. " + GOOD_SENTENCE)


def cases() -> list[Case]:
    good = {"title": "Ferry", "text": GOOD_SENTENCE}
    return [
        Case("empty.txt", b"", "refused", "empty file"),
        Case("whitespace.md", b" \n\t\r\n   \n\n", "refused", "empty file"),
        Case("unicode-spaces.txt", "\u00a0\u2003\u3000\n".encode(), "refused", "empty file"),
        Case("picture.txt", png(), "refused", "binary file"),
        Case("archive.md", zip_file(), "refused", "binary file"),
        Case("archive.html", zip_file(), "refused", "binary file"),
        Case("nul-bytes.txt", b"Text with\x00a NUL byte.", "refused", "binary file"),
        Case("latin1.txt", "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e was served.".encode("latin-1"),
             "refused", "not valid UTF-8"),
        Case("truncated-utf8.txt", GOOD_SENTENCE.encode() + "\u00e9".encode()[:1], "refused",
             "not valid UTF-8"),
        Case("utf16-le.txt", ("\ufeff" + GOOD_SENTENCE).encode("utf-16-le"), "ingested",
             present=(GOOD_SENTENCE,)),
        Case("utf16-be.txt", ("\ufeff" + GOOD_SENTENCE).encode("utf-16-be"), "ingested",
             present=(GOOD_SENTENCE,)),
        Case("utf16-odd.txt", b"\xff\xfe" + GOOD_SENTENCE.encode("utf-16-le") + b"\x00", "refused",
             "not UTF-16"),
        Case("utf8-bom.txt", b"\xef\xbb\xbf" + GOOD_SENTENCE.encode(), "ingested", present=(GOOD_SENTENCE,)),
        Case("furniture-only.txt", b"Subscribe to our newsletter\n\nShare on Twitter\n\nAdvertisement",
             "refused", "no article text left"),
        Case("controls.txt", ("Bell\x07 and escape\x1b[31m codes in " + GOOD_SENTENCE).encode(),
             "ingested", present=(GOOD_SENTENCE,), absent=("\x07", "\x1b")),
        Case("scripted.html", SCRIPTED_HTML.encode(), "ingested",
             present=(GOOD_SENTENCE, "The mayor said the vote had been close."), absent=_HANDLERS),
        Case("scripted.md", SCRIPTED_MD.encode(), "ingested",
             present=(GOOD_SENTENCE, "The mayor said the vote had been close."),
             absent=("MD_SCRIPT", "MD_IFRAME", "MD_HANDLER", "alert", "<script", "<b")),
        Case("nested.html", nested_html().encode(), "ingested", present=(GOOD_SENTENCE,)),
        Case("unclosed.html", (f"<html><body><p>{GOOD_SENTENCE}" + "<div><span><b>" * 30_000).encode(),
             "ingested", present=(GOOD_SENTENCE,)),
        Case("long-line.txt", long_line().encode(), "ingested"),
        Case("broken.jsonl", _jsonl(
            {"doc_id": "j-ok", **good},
            {"doc_id": "j-no-text", "title": "x"},
            {"doc_id": "j-text-int", "text": 42},
            {"doc_id": "j-title-list", "title": ["a"], "text": GOOD_SENTENCE},
            {"doc_id": "j@bad#id", "text": GOOD_SENTENCE},
            {"doc_id": "", "text": GOOD_SENTENCE},
            {"doc_id": 7, "text": GOOD_SENTENCE},
            {"doc_id": "j-empty", "text": "   "},
            ["not", "an", "object"],
            "null",
            "{not json",
            "[" * 50_000 + "]" * 50_000,
            '{"a":' * 20_000 + "1" + "}" * 20_000,
            json.dumps({"doc_id": "j-huge", "text": "word " * 1_100_000}),
            {"doc_id": "j-traversal/../../../etc/passwd", **good},
            {"doc_id": "j-ok-2", "title": "T" * 10_000, "text": GOOD_SENTENCE + " Second sentence."},
        ), "mixed", ok=3, failed=13, reasons=(
            "missing field 'text'", "field 'text' must be a string, not int",
            "field 'title' must be a string, not list", "is not usable", "field 'text' is empty",
            "expected a JSON object, got list", "expected a JSON object, got NoneType",
            "not valid JSON", "JSON nested too deeply", "line is 5,500,0",
        ), doc_ids=("j-ok", "j-traversal/../../../etc/passwd", "j-ok-2")),
        Case("surrogates.jsonl", _jsonl(
            *(json.dumps({"doc_id": f"s-{key}", **good, key: "x\ud800y"}) for key in
              ("doc_id", "title", "source", "published_at", "url", "text")),
            json.dumps({"doc_id": "s-ok", **good, "source": "AFP"}),
        ), "mixed", ok=1, failed=6, reasons=tuple(
            f"field {key!r} is not valid Unicode: a lone surrogate" for key in
            ("doc_id", "title", "source", "published_at", "url", "text")), doc_ids=("s-ok",)),
        Case("dates.jsonl", _jsonl(
            {"doc_id": "d-day", **good, "published_at": "2023-09-11"},
            {"doc_id": "d-zulu", **good, "published_at": "2023-09-11T08:30:00Z"},
            {"doc_id": "d-offset", **good, "published_at": "2023-09-11T08:30:00+02:00"},
            {"doc_id": "d-words", **good, "published_at": "yesterday"},
            {"doc_id": "d-feb30", **good, "published_at": "2023-02-30"},
            {"doc_id": "d-script", **good, "published_at": "<script>alert(1)</script>"},
        ), "mixed", ok=6, failed=0, doc_ids=("d-day", "d-zulu", "d-offset", "d-words", "d-feb30", "d-script"),
            warnings=("published_at 'yesterday' is not an ISO 8601 date",
                      "published_at '2023-02-30' is not an ISO 8601 date",
                      "published_at '<script>alert(1)</script>' is not an ISO 8601 date")),
        Case("windows-1252.html", _page('<meta charset="windows-1252">', CAFE).encode("cp1252"),
             "ingested", present=(CAFE,)),
        Case("http-equiv-latin1.html", _page(
            '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">', CAFE
        ).encode("cp1252"), "ingested", present=(CAFE,)),
        Case("undeclared-cp1252.html", _page("", " ".join([CAFE] * 6)).encode("cp1252"), "ingested",
             present=("café crème coûte 3 €",)),
        Case("emoji.txt", _emoji_text().encode(), "ingested",
             present=("👩\u200d💻 developer ❤\ufe0f coding.", "Softhyphen and zerowidth and wordjoiner",
                      GOOD_SENTENCE),
             absent=("\u00ad", "\u200b", "\u2060", "\u202e")),
        Case("nul-inside.jsonl", _jsonl({"doc_id": "nul-inside", "title": "N\u0000ul",
                                         "text": "The vote\u0000 was close. " + GOOD_SENTENCE}),
             "ingested", present=("The vote was close.",), absent=("\x00",)),
        Case("my report (final).txt", GOOD_SENTENCE.encode(), "ingested", doc_ids=("my_report_final",)),
        Case("Ünïcödé Straße.md", GOOD_SENTENCE.encode(), "ingested", doc_ids=("Ünïcödé_Straße",)),
        Case("Москва новости.txt", GOOD_SENTENCE.encode(), "ingested", doc_ids=("Москва_новости",)),
        Case("a@b#c~d.txt", GOOD_SENTENCE.encode(), "ingested", doc_ids=("a_b_c_d",)),
        Case("....txt", GOOD_SENTENCE.encode(), "ingested"),
    ]


def write_corpus(folder: Path) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    out = cases()
    for case in out:
        (folder / case.name).write_bytes(case.data)
    return out


def write_big(path: Path, n_bytes: int = 50_000_000) -> Path:
    """A plain text of `n_bytes` bytes: sentences, so that only its size is wrong with it."""
    unit = (GOOD_SENTENCE + " ").encode()
    with open(path, "wb") as fh:
        block = unit * (1_000_000 // len(unit))
        written = 0
        while written < n_bytes:
            part = block[: n_bytes - written]
            fh.write(part)
            written += len(part)
    return path


if __name__ == "__main__":
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    for c in write_corpus(dest):
        print(f"{c.expect:9} {c.name}")
    write_big(dest / "big-50mb.txt")
    print(f"{'refused':9} big-50mb.txt")
