"""Export a library to JSONL and import it elsewhere: exact round trip, idempotent, no model needed.

Embedded -> server is in tests/integration/test_server_mode.py.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa.errors import InputError
from qa.ingest.transfer import export_library, import_library
from qa.store import Store
from qa.types import Article
from tests.support.fakes import HashEmbedder
from tests.support.paths import SEED

pytestmark = pytest.mark.unit

EXTRA = [
    Article(doc_id="afp-1", title="Drills", source="AFP", published_at="2023-09-11",
            url="https://example.org/drills",
            text="Armenia and the United States began joint drills on Monday."),
    Article(doc_id="bbc-1", title="Football", source="BBC", published_at="2022-12-18",
            text="Argentina won the World Cup final in Qatar after penalties.\n\nMessi lifted the trophy."),
]


def library(make_qa: Any, embedder: Any) -> Any:
    qa = make_qa(embedder)
    assert {r.status for r in qa.ingest([SEED]) + qa.ingest_articles(EXTRA)} == {"added"}
    return qa


def snapshot(store: Store) -> dict[str, Any]:
    """Everything a reader can see, vectors included."""
    out: dict[str, Any] = {}
    for info in store.list_articles():
        sents, sv = store.get_sentences(info.doc_id, with_vectors=True)
        chunks, cv = store.get_chunks(info.doc_id, with_vectors=True)
        meta = store.catalog().articles[info.doc_id]
        out[info.doc_id] = (
            store.get_article(info.doc_id).model_dump(),
            meta.version,
            [s.model_dump() for s in sents],
            [c.model_dump() for c in chunks],
            np.round(np.asarray(sv), 6).tolist(),
            np.round(np.asarray(cv), 6).tolist(),
        )
    return out


def test_round_trip_embedded_to_embedded_without_a_model(make_qa, fake_embedder, tmp_path: Path) -> None:
    src = library(make_qa, fake_embedder)
    path = tmp_path / "library.jsonl.gz"
    assert export_library(src, path) == 3
    with gzip.open(path, "rt") as fh:
        header = json.loads(fh.readline())
    assert header["format"] == "qa-library" and header["vectors"] and header["dim"] == fake_embedder.dim

    # Into a bare Store: no embedder exists at all on this side.
    target = Store(tmp_path / "other", "copy")
    results = import_library(target, path)
    assert sorted((r.doc_id, r.status) for r in results) == [
        ("000_796d416b0a81cd49", "added"), ("afp-1", "added"), ("bbc-1", "added")]
    assert snapshot(target) == snapshot(src.store)
    assert target.check().ok
    counts = target.count()
    assert [r.status for r in import_library(target, path)] == ["unchanged"] * 3
    assert target.count() == counts

    # A QA over the imported store answers like the original.
    from qa.service import QA

    copy = QA(src.settings.model_copy(update={"home": tmp_path / "other", "collection": "copy"}),
              embedder=fake_embedder)
    for q in ("Who won the World Cup final?", "Why is Armenia drifting from Moscow?"):
        assert copy.ask(q).model_dump(exclude={"timings_ms"}) == src.ask(q).model_dump(exclude={"timings_ms"})


def test_import_into_a_service_does_not_load_its_model(make_qa, fake_embedder, tmp_path: Path) -> None:
    src = library(make_qa, fake_embedder)
    path = tmp_path / "library.jsonl"
    export_library(src.store, path)
    from qa.service import QA
    from qa.settings import Settings

    target = QA(Settings(home=tmp_path / "target"))  # no embedder given: loading it would cost seconds
    assert {r.status for r in import_library(target, path)} == {"added"}
    assert target._embedder is None
    assert [a.doc_id for a in target.list()] == [a.doc_id for a in src.list()]


def test_replaced_and_updated_articles(make_qa, fake_embedder, tmp_path: Path) -> None:
    src = library(make_qa, fake_embedder)
    path = tmp_path / "library.jsonl"
    export_library(src, path)
    dst = make_qa(fake_embedder)
    dst.ingest_articles([EXTRA[0].model_copy(update={"text": "An older version of the drills story."})])
    results = {r.doc_id: r.status for r in import_library(dst, path)}
    assert results == {"000_796d416b0a81cd49": "added", "afp-1": "replaced", "bbc-1": "added"}
    assert dst.get("afp-1").text == src.get("afp-1").text
    assert dst.store.check().ok  # the older version left nothing behind


def test_without_vectors_the_target_embeds_again(make_qa, fake_embedder, tmp_path: Path) -> None:
    src = library(make_qa, fake_embedder)
    path = tmp_path / "texts.jsonl"
    export_library(src, path, vectors=False)
    assert "sentence_vectors" not in path.read_text()
    with pytest.raises(InputError, match="holds no vectors"):
        import_library(Store(tmp_path / "bare", "bare"), path)
    dst = make_qa(fake_embedder)
    assert {r.status for r in import_library(dst, path)} == {"added"}
    for info in src.list():
        assert [s.text for s in dst.sentences(info.doc_id)] == [s.text for s in src.sentences(info.doc_id)]
    assert {r.status for r in import_library(dst, path)} == {"unchanged"}


def test_damaged_files_are_refused_or_reported(make_qa, fake_embedder, tmp_path: Path) -> None:
    src = library(make_qa, fake_embedder)
    path = tmp_path / "library.jsonl"
    export_library(src, path)
    lines = path.read_text().splitlines()
    dst = make_qa(fake_embedder)

    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(InputError, match="truncated"):
        import_library(dst, truncated)
    assert dst.store.count()["articles"] == 0  # refused before anything was written

    not_export = tmp_path / "docs.jsonl"
    not_export.write_text('{"doc_id": "a", "text": "hello"}\n')
    with pytest.raises(InputError, match="not a qa library export"):
        import_library(dst, not_export)

    bad = [json.loads(line) for line in lines]
    bad[1]["sentences"][0] = [0, 10**9, 0]  # a span outside the text
    bad[2]["text"] += " edited"  # no longer matches its content hash
    bad[3]["sentence_vectors"] = bad[3]["sentence_vectors"][:-8]
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join(json.dumps(r) for r in bad) + "\n")
    results = import_library(dst, damaged)
    assert [r.status for r in results] == ["failed"] * 3
    reasons = " | ".join(r.reason for r in results)
    assert "not inside the text" in reasons and "content_hash" in reasons and "expected" in reasons
    assert dst.store.count() == {"articles": 0, "sentences": 0, "chunks": 0}


def test_vectors_of_another_size_are_refused(make_qa, fake_embedder, tmp_path: Path) -> None:
    src = library(make_qa, fake_embedder)
    path = tmp_path / "library.jsonl"
    export_library(src, path)
    dst = make_qa(fake_embedder)
    dst.ingest_articles(EXTRA[:1])
    header, *rest = path.read_text().splitlines()
    h = json.loads(header)
    h["dim"] = 32
    other = tmp_path / "other.jsonl"
    other.write_text("\n".join([json.dumps(h), *rest]) + "\n")
    with pytest.raises(InputError, match="32 dimensions but the target store's have 64"):
        import_library(dst, other)


def test_large_import_goes_in_batches(make_qa, fake_embedder, tmp_path: Path) -> None:
    src = library(make_qa, fake_embedder)
    path = tmp_path / "library.jsonl"
    export_library(src, path)
    header, *records, end = path.read_text().splitlines()
    bbc = next(json.loads(r) for r in records if json.loads(r)["doc_id"] == "bbc-1")
    copies = [{**bbc, "doc_id": f"c{i:02d}"} for i in range(70)] + [{**bbc, "doc_id": "c05"}]
    big = tmp_path / "big.jsonl"
    big.write_text("\n".join([header, *(json.dumps(c) for c in copies), end]) + "\n")
    store = Store(tmp_path / "other", "copy")
    calls = 0
    real = store._call

    def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(fn, *args, **kwargs)

    store._call = counting  # type: ignore[method-assign]
    results = import_library(store, big)
    assert [r.status for r in results] == ["added"] * 70 + ["unchanged"]
    assert calls < 30  # 70 articles, not 3 calls each
    health = store.check()
    assert health.ok and health.articles == 70 and health.sentences == 140


class _OtherEmbedder(HashEmbedder):
    """Another model: another name and another vector size."""

    name = "other (test)"
    dim = 32


def test_vectors_of_another_embedder_are_refused_naming_both(make_qa, fake_embedder, tmp_path: Path) -> None:
    src = library(make_qa, fake_embedder)
    path = tmp_path / "library.jsonl"
    export_library(src, path)
    assert json.loads(path.read_text().splitlines()[0])["embedder"] == "hash (test)"
    from qa.service import QA
    from qa.settings import Settings

    # No model loaded: the target's embedder is the one its settings name.
    target = QA(Settings(home=tmp_path / "target"))
    with pytest.raises(InputError, match=r"made by the embedder hash \(test\), but this library embeds "
                       r"with all-MiniLM-L6-v2 \(local\)") as err:
        import_library(target, path)
    assert "--re-embed" in err.value.user_message()
    assert target._embedder is None and target.store.count()["articles"] == 0

    loaded = make_qa(_OtherEmbedder())
    with pytest.raises(InputError, match=r"hash \(test\).*other \(test\)"):
        import_library(loaded, path)


def test_re_embed_imports_the_texts_with_the_targets_embedder(make_qa, fake_embedder, tmp_path: Path) -> None:
    src = library(make_qa, fake_embedder)
    path = tmp_path / "library.jsonl"
    export_library(src, path)
    dst = make_qa(_OtherEmbedder())
    results = import_library(dst, path, reembed=True)
    assert sorted((r.doc_id, r.status) for r in results) == [
        ("000_796d416b0a81cd49", "added"), ("afp-1", "added"), ("bbc-1", "added")]
    assert dst.store.dimension() == 32  # encoded here, not copied
    for info in src.list():
        assert dst.get(info.doc_id).text == src.get(info.doc_id).text
        assert [s.text for s in dst.sentences(info.doc_id)] == [s.text for s in src.sentences(info.doc_id)]
    assert dst.ask("Who won the World Cup final?").citations[0].doc_id == "bbc-1"


def test_another_backend_of_the_same_model_is_accepted(make_qa, fake_embedder, tmp_path: Path) -> None:
    # onnx-int8, onnx and torch all compute all-MiniLM-L6-v2's vectors: one name, one space.
    src = library(make_qa, fake_embedder)
    path = tmp_path / "library.jsonl"
    export_library(src, path)
    header, *rest = path.read_text().splitlines()
    same = tmp_path / "minilm.jsonl"
    same.write_text("\n".join([json.dumps({**json.loads(header), "embedder": "all-MiniLM-L6-v2 (local)"}),
                               *rest]) + "\n")
    from qa.service import QA
    from qa.settings import Settings

    for encoder in ("torch", "onnx", "onnx-int8"):
        target = QA(Settings(home=tmp_path / encoder, encoder=encoder))
        assert {r.status for r in import_library(target, same)} == {"added"}
        assert target._embedder is None


def test_a_record_with_invalid_unicode_fails_alone(make_qa, fake_embedder, tmp_path: Path) -> None:
    src = library(make_qa, fake_embedder)
    path = tmp_path / "library.jsonl"
    export_library(src, path)
    header, *records, end = path.read_text().splitlines()
    bad = [json.loads(r) for r in records]
    bad[0]["source"] = "AFP\ud800"
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join([header, *(json.dumps(r) for r in bad), end]) + "\n")
    results = import_library(make_qa(fake_embedder), damaged)
    assert [r.status for r in results] == ["failed", "added", "added"]
    assert "field 'source' is not valid Unicode" in results[0].reason
