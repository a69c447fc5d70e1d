"""Ingest: readers, per-file failures, idempotency, replacement without orphans, delete."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.errors import InputError, NotFoundError, StoreError
from qa.ingest.readers import parse_html, parse_markdown, read_file
from qa.types import Article
from tests.support.fakes import HashEmbedder
from tests.support.paths import SEED

pytestmark = pytest.mark.unit


def test_html_drops_scripts_styles_and_navigation() -> None:
    html = """<html><head><title>Page title</title><style>p{color:red}</style>
    <meta property="article:published_time" content="2023-09-11T10:00:00Z"></head>
    <body><nav><a href="/">Home</a> News Sport</nav><header>Site header</header>
    <article><h1>Drills begin</h1><p>Armenia and the <b>United States</b> began drills.</p>
    <script>alert('x')</script><p>Moscow objected.</p></article>
    <footer>Copyright 2023</footer></body></html>"""
    a = parse_html(html, "doc")
    # trafilatura takes the page's one <h1>, the article's headline, over <title> (which on news
    # sites usually carries " | Site name" too)
    assert a.title == "Drills begin"
    assert a.published_at == "2023-09-11T10:00:00Z"
    text = " ".join(a.text.split())
    assert "Armenia and the United States began drills." in text
    assert "Moscow objected." in text
    for junk in ("alert", "Home", "Site header", "Copyright", "color:red"):
        assert junk not in text


def test_markdown_front_matter_and_heading() -> None:
    md = "---\ntitle: Drills\nsource: AFP\ndate: 2023-09-11\n---\n# Heading\n\nArmenia **began** drills.\n"
    a = parse_markdown(md, "doc")
    assert (a.title, a.source, a.published_at) == ("Drills", "AFP", "2023-09-11")
    assert "Armenia began drills." in a.text and "**" not in a.text


def test_jsonl_keeps_metadata_and_reports_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    rows = [
        {
            "doc_id": "a1",
            "title": "T",
            "source": "S",
            "published_at": "2023-01-02",
            "url": "http://x",
            "text": "Alpha happened today.",
        },
        {"doc_id": "a2", "title": 5, "text": "Bad title type."},
        {"doc_id": "a3"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    got = list(read_file(path, 10_000_000))
    ok = [g for g in got if isinstance(g, Article)]
    assert [(a.doc_id, a.title, a.source, a.published_at, a.url) for a in ok] == [
        ("a1", "T", "S", "2023-01-02", "http://x")
    ]
    reasons = [g.reason for g in got if not isinstance(g, Article)]
    assert reasons == [
        "field 'title' must be a string, not int",
        "missing field 'text'",
        "not valid JSON (Expecting property name enclosed in double quotes at column 2)",
    ]


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("empty.txt", b"", "empty file"),
        ("blank.txt", b"  \n\n\t ", "empty file"),
        ("image.txt", b"\x89PNG\r\n\x1a\n" + bytes(100), "binary file, not text"),
        ("latin1.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"), "not valid UTF-8"),
        ("furniture.txt", b"Subscribe to our newsletter\n\nPlease wait...", "no article text left"),
    ],
)
def test_bad_files_are_reported_with_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    (got,) = list(read_file(path, 1000))
    assert not isinstance(got, Article)
    assert got.path == str(path) and reason in got.reason


def test_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("Words here. " * 200)
    (got,) = list(read_file(path, 1000))
    assert not isinstance(got, Article) and "over the limit of 1,000" in got.reason


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "u16.txt"
    path.write_bytes("Yerevan residents spoke on Monday.".encode("utf-16"))
    (got,) = list(read_file(path, 10_000))
    assert isinstance(got, Article) and got.text == "Yerevan residents spoke on Monday."


def _counts(qa) -> dict:  # noqa: ANN001
    return qa.store.count()


def test_ingest_is_idempotent_replaces_and_deletes(make_qa, fake_embedder, tmp_path: Path) -> None:
    qa = make_qa(fake_embedder)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "seed.txt").write_text(SEED.read_text())
    (folder / "empty.md").write_text("")
    (folder / "notes.pdf").write_text("ignored: not an article type")
    first = qa.ingest([folder])
    assert sorted((r.status, r.doc_id) for r in first) == [("added", "seed"), ("failed", None)]
    before = _counts(qa)
    assert before == {"articles": 1, "sentences": 13, "chunks": before["chunks"]}

    again = qa.ingest([folder / "seed.txt"])
    assert [r.status for r in again] == ["unchanged"]
    assert _counts(qa) == before

    (folder / "seed.txt").write_text("A short replacement. It has two sentences.")
    replaced = qa.ingest([folder / "seed.txt"])
    assert [(r.status, r.n_sentences) for r in replaced] == [("replaced", 2)]
    assert _counts(qa) == {"articles": 1, "sentences": 2, "chunks": 1}
    assert [s.text for s in qa.sentences("seed")] == ["A short replacement.", "It has two sentences."]

    qa.delete("seed")
    assert _counts(qa) == {"articles": 0, "sentences": 0, "chunks": 0}
    with pytest.raises(NotFoundError):
        qa.delete("seed")


def test_failed_file_leaves_stored_articles_untouched(make_qa, fake_embedder, tmp_path: Path) -> None:
    qa = make_qa(fake_embedder)
    good = tmp_path / "good.txt"
    good.write_text(SEED.read_text())
    qa.ingest([good])
    before = (_counts(qa), qa.get("good").text)
    bad = tmp_path / "good.html"  # same doc id, but binary: must not replace the stored one
    bad.write_bytes(b"\x00\x01\x02binary")
    results = qa.ingest([bad])
    assert [r.status for r in results] == ["failed"]
    assert (_counts(qa), qa.get("good").text) == before


def test_offsets_of_stored_sentences_point_into_stored_text(make_qa, fake_embedder) -> None:
    qa = make_qa(fake_embedder)
    qa.ingest([SEED])
    doc_id = SEED.stem
    text = qa.get(doc_id).text
    sents = qa.sentences(doc_id)
    assert [s.sentence_id for s in sents] == [f"{doc_id}#{i}" for i in range(13)]
    assert all(text[s.start : s.end] == s.text for s in sents)
    assert qa.get(doc_id).byline == "Khalil Wakim, with AFP"


def test_ingest_articles_api_and_list(make_qa, fake_embedder) -> None:
    qa = make_qa(fake_embedder)
    qa.ingest_articles(
        [
            Article(
                doc_id="x1",
                title="X",
                source="AFP",
                published_at="2023-09-11",
                text="Armenia began drills. Moscow objected.",
            )
        ]
    )
    (info,) = qa.list()
    assert (info.doc_id, info.title, info.source, info.n_sentences) == ("x1", "X", "AFP", 2)


class _RefusingEmbedder(HashEmbedder):
    """Fails to split any article titled "Refused", as a bad article would."""

    def count_tokens(self, text: str) -> int:
        if text == "Refused":
            raise InputError("refused by the test embedder")
        return super().count_tokens(text)


def _group_articles() -> list[Article]:
    # Two chunks each at chunk_max_tokens=16; with embed_batch_size=1 a group is full at 4 chunks,
    # so these are written in three groups: (g0, g1), (g2, g4), (g5).
    sentences = " ".join(f"Reporter {{i}} filed note {j} about the harbour and the market." for j in range(3))
    out = [Article(doc_id=f"g{i}", title=f"Group {i}", text=sentences.format(i=i)) for i in range(6)]
    out[3].title = "Refused"
    return out


def test_groups_are_written_in_order_with_progress_after_each_write(make_qa) -> None:
    qa = make_qa(_RefusingEmbedder(), embed_batch_size=1, chunk_max_tokens=16)
    seen: list[tuple[int, int, str, bool, bool]] = []

    def progress(done: int, total: int, name: str) -> None:
        # Reported once the group is committed, with the write lock still held.
        seen.append((done, total, name, name in qa.store.catalog().articles, qa.store._write_lock.held))

    results = qa.ingest_articles(_group_articles(), progress=progress)
    assert [(r.doc_id, r.status) for r in results] == [
        ("g0", "added"), ("g1", "added"), ("g3", "failed"), ("g2", "added"), ("g4", "added"),
        ("g5", "added"),
    ]
    assert seen == [(2, 6, "g1", True, True), (4, 6, "g4", True, True), (5, 6, "g5", True, True)]
    assert qa.store.check().ok and qa.store.count()["articles"] == 5


def test_a_failed_group_write_propagates_and_keeps_earlier_groups(make_qa) -> None:
    qa = make_qa(_RefusingEmbedder(), embed_batch_size=1, chunk_max_tokens=16)
    real = qa.store.write_articles
    calls: list[list[str]] = []

    def failing(writes):  # noqa: ANN001, ANN202
        calls.append([w.article.doc_id for w in writes])
        if len(calls) == 2:
            raise StoreError("disk full (test)")
        return real(writes)

    qa.store.write_articles = failing  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="disk full"):
        qa.ingest_articles(_group_articles())
    assert calls == [["g0", "g1"], ["g2", "g4"]]  # nothing written after the failure
    assert sorted(qa.store.refresh().articles) == ["g0", "g1"]
    qa.store.write_articles = real  # type: ignore[method-assign]
    # The write lock was released: the next ingest writes the rest.
    results = qa.ingest_articles(_group_articles())
    assert [r.status for r in results].count("added") == 3
    assert qa.store.check().ok and qa.store.count()["articles"] == 5


# --- files that are not regular, and reads capped while reading --------------------------------


_CHILD = """
import resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a read without end fails, not the machine
from qa.ingest.readers import read_file
for got in read_file(Path(sys.argv[1]), int(sys.argv[2])):
    print(getattr(got, "reason", None) or "article: " + got.text)
"""


def _read_in_a_child(path: Path, max_bytes: int) -> str:
    """What read_file gives for `path`, read by a child process that may not take more than
    10 s or 2 GB: a regression on a FIFO or /dev/zero fails this test, not the test run."""
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(max_bytes)],
                              capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading {path} did not return in 10 s")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "x.txt"
    os.mkfifo(fifo)
    assert _read_in_a_child(fifo, 1000).startswith("not a regular file")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_link_to_a_device_is_refused_and_a_link_to_a_file_is_read(tmp_path: Path) -> None:
    zero = tmp_path / "zero.txt"
    zero.symlink_to("/dev/zero")
    assert _read_in_a_child(zero, 20_000_000).startswith("not a regular file")
    real = tmp_path / "real.txt"
    real.write_text("The council met on Monday.")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    assert _read_in_a_child(link, 1000) == "article: The council met on Monday."


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux's /proc")
def test_reads_are_capped_whatever_size_the_file_states(tmp_path: Path) -> None:
    # /proc files are regular files that state a size of 0 and hold more.
    maps = tmp_path / "maps.txt"
    maps.symlink_to("/proc/self/maps")
    assert maps.stat().st_size == 0
    reason = _read_in_a_child(maps, 200)
    assert reason.startswith("file is over the limit of 200 bytes (QA_MAX_FILE_BYTES)"), reason


# --- HTML in the charset it declares ---------------------------------------------------------------

CAFE = "Le café crème coûte 3 € à Paris depuis lundi, a déclaré le propriétaire du café."


@pytest.mark.parametrize(
    ("head", "encoding"),
    [
        ('<meta charset="windows-1252">', "cp1252"),
        ('<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">', "cp1252"),
        ("<meta charset='iso-8859-1'>", "cp1252"),  # read as browsers read Latin-1: with its €
        ('<meta charset="iso-8859-15">', "iso-8859-15"),
        ('<meta charset="koi8-r">', "koi8-r"),
    ],
)
def test_html_is_decoded_by_its_declared_charset(tmp_path: Path, head: str, encoding: str) -> None:
    text = CAFE if encoding != "koi8-r" else "Москва заявила в понедельник о новых учениях."
    path = tmp_path / "page.html"
    path.write_bytes(f"<html><head>{head}<title>Prix</title></head><body><p>{text}</p></body></html>"
                     .encode(encoding))
    (got,) = list(read_file(path, 100_000))
    assert isinstance(got, Article), got
    assert got.text == text and got.title == "Prix"


def test_undeclared_html_is_decoded_by_detection(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    body = " ".join([CAFE] * 8)
    path.write_bytes(f"<html><body><p>{body}</p></body></html>".encode("cp1252"))
    (got,) = list(read_file(path, 100_000))
    assert isinstance(got, Article), got
    assert "café crème coûte" in got.text


def test_html_declaring_a_charset_its_bytes_are_not_in_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes('<meta charset="utf-8"><p>caf\xe9</p>'.encode("latin-1"))
    (got,) = list(read_file(path, 100_000))
    assert not isinstance(got, Article) and "declares charset 'utf-8'" in got.reason
    unknown = tmp_path / "unknown.html"
    unknown.write_bytes('<meta charset="x-klingon"><p>caf\xe9</p>'.encode("latin-1"))
    (got,) = list(read_file(unknown, 100_000))
    assert not isinstance(got, Article) and "unknown charset 'x-klingon'" in got.reason


def test_plain_text_stays_utf8(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_bytes(f'<meta charset="windows-1252">{CAFE}'.encode("cp1252"))
    (got,) = list(read_file(path, 100_000))
    assert not isinstance(got, Article) and "not valid UTF-8" in got.reason


# --- jsonl records: invalid Unicode fails the record, a bad date only the field ---------------------


@pytest.mark.parametrize("field", ["doc_id", "title", "source", "published_at", "url", "text"])
def test_a_lone_surrogate_fails_only_its_record(tmp_path: Path, field: str) -> None:
    bad = {"doc_id": "bad", "title": "T", "source": "S", "published_at": "2023-09-11",
           "url": "https://example.org/a", "text": "The council met on Monday."}
    at = min(3, len(bad[field]))
    bad[field] = bad[field][:at] + "\ud800" + bad[field][at:]
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps(bad) + "\n" + json.dumps({"doc_id": "ok", "text": "It rained."}) + "\n")
    got = list(read_file(path, 100_000))
    assert [g.doc_id for g in got if isinstance(g, Article)] == ["ok"]
    (failure,) = [g for g in got if not isinstance(g, Article)]
    assert failure.path == f"{path} line 1"
    want = f"field {field!r} is not valid Unicode: a lone surrogate ('\\ud800') at character {at}"
    assert failure.reason == want


@pytest.mark.parametrize(
    ("given", "stored"),
    [("2023-09-11", "2023-09-11"), ("2023-09-11T08:30:00Z", "2023-09-11T08:30:00+00:00"),
     ("yesterday", None), ("2023-02-30", None), ("<script>alert(1)</script>", None), ("", None)],
)
def test_published_at_is_normalized_or_dropped_with_a_warning(
    tmp_path: Path, given: str, stored: str | None
) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"doc_id": "a", "published_at": given, "text": "It rained."}) + "\n")
    (got,) = list(read_file(path, 100_000))
    assert isinstance(got, Article) and got.published_at == stored
    if stored is None and given:
        (warning,) = got.warnings
        assert warning.startswith(f"published_at {given!r} is not an ISO 8601 date or datetime")
        assert warning.endswith("the article is kept without a date")
    else:
        assert got.warnings == []
