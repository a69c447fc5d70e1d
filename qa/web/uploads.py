"""Getting articles in from a browser: uploaded files and pasted text, checked, then ingested.

Uploads are limited to `settings.max_file_bytes` each (enforced by Gradio at upload and again
here) and `MAX_FILES` per batch; each upload is copied into a fresh temporary folder under a
sanitized name before it is ingested, so a file name never reaches a path unchecked.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.errors import InputError, PartialIngest
from qa.types import IngestResult
from qa.web.common import parse_day

if TYPE_CHECKING:
    from qa.service import QA

MAX_FILES = 50  # per upload; a whole folder belongs to `qa ingest FOLDER`

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_SUFFIX_OK = re.compile(r"^\.[a-z0-9]{1,10}$")


def safe_upload_name(name: str, taken: set[str]) -> str:
    """A plain file name for an upload: last path part only, odd characters folded to '_'.

    The stem becomes the article's doc_id (as with `qa ingest`), so it is kept readable; names
    already `taken` in this batch get -2, -3... so that two uploads never overwrite each other.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    suffix = Path(base).suffix.lower()
    stem = base[: -len(suffix)] if suffix else base
    if not _SUFFIX_OK.match(suffix):
        suffix, stem = "", base
    stem = _UNSAFE_NAME.sub("_", stem).strip("._-")[:120] or "upload"
    candidate, i = stem + suffix, 1
    while candidate.lower() in taken:
        i += 1
        candidate = f"{stem}-{i}{suffix}"
    taken.add(candidate.lower())
    return candidate


def mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def _upload_paths(files: Any) -> list[Path]:
    """Paths Gradio stored the uploads at (Gradio checked them; we only read them)."""
    if not files:
        return []
    return [Path(f) for f in (files if isinstance(files, list) else [files])]


def _too_large(src: Path, limit: int) -> IngestResult | None:
    """The failure to report for an upload that is gone or over the size limit, else None."""
    try:
        size = src.stat().st_size
    except OSError:
        return IngestResult(path=src.name, status="failed", reason="the upload was lost")
    if size > limit:
        reason = f"{mb(size)} is over the {mb(limit)} limit per file"
        return IngestResult(path=src.name, status="failed", reason=reason)
    return None


def ingest_uploads(
    qa: QA, files: Any, progress: Callable[[int, int, str], None] | None
) -> tuple[list[IngestResult], str]:
    """Ingest a batch of uploaded files; the results name each file as the user did, and the
    note says when a name had to be simplified."""
    paths = _upload_paths(files)
    if not paths:
        raise InputError("Choose one or more files first (.txt, .md, .html or .jsonl).")
    if len(paths) > MAX_FILES:
        raise InputError(
            f"{len(paths)} files were chosen; at most {MAX_FILES} can be added at once. "
            "Add them in smaller batches, or use `qa ingest FOLDER` for a whole collection."
        )
    early: list[IngestResult] = []
    shown: dict[str, str] = {}
    taken: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="qa-upload-") as tmp:
        for src in paths:
            refused = _too_large(src, qa.settings.max_file_bytes)
            if refused is not None:
                early.append(refused)
                continue
            name = safe_upload_name(src.name, taken)
            shutil.copyfile(src, Path(tmp) / name)
            shown[name] = src.name

        def as_uploaded(results: list[IngestResult]) -> list[IngestResult]:
            """The results after `early`, each naming its file as the user did."""
            named = [r.model_copy(update={"path": shown.get(Path(r.path).name, Path(r.path).name)})
                     for r in results]
            return early + named

        try:
            results = qa.ingest([Path(tmp) / n for n in shown], progress=progress) if shown else []
        except PartialIngest as exc:  # the store failed: what was stored before is still shown
            exc.results = as_uploaded(exc.results)
            raise
    note = ""
    if any(shown[n] != n for n in shown):
        note = "Some file names were simplified for storage; the article ids use them."
    return as_uploaded(results), note


def ingest_pasted(qa: QA, text: str, title: str, source: str, published_at: Any) -> list[IngestResult]:
    """Ingest pasted text; `published_at` is the form's date (text, or empty for none)."""
    day = parse_day(published_at, "The date")
    return qa.ingest_text(text, title=title, source=source, published_at=day)
