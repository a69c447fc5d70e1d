"""The web app: Gradio Blocks over the QA service, with no answering logic of its own.

    qa serve                      # http://127.0.0.1:7860, or QA_HOST / QA_PORT / --host / --port
    QA_AUTH=user:password qa serve --host 0.0.0.0

Tabs: Chat (streamed answers; citation chips open the cited sentence, highlighted, in its
article), Library (articles, filters, delete, upload or paste), Summaries (cited summaries of
chosen articles or of a query) and Settings (mode, number of sources, source and date filters).

Every piece of article text and metadata, and every file name, is shown through `html.escape`:
the HTML below is built here, never by a Markdown renderer, so an article holding
`<img src=x onerror=...>` or `<script>` reads as text. Citation highlights are `<mark>` elements
cut from the stored text at each citation's `start`/`end`.

Named API endpoints, for `gradio_client` (see README): `/ask`, `/ask_stream`, `/summarize`,
`/ingest` (files), `/ingest_text` and `/articles`. The UI's own events are private.

Queue and concurrency
---------------------
`ANSWER_CONCURRENCY = 8` workers answer at once (chat, `/ask`, `/ask_stream`, `/summarize`,
`/articles`); ingest and delete form one `write` group of 1. Why 8: an extractive answer is
about 0.1-0.3 s of CPU (one query embedding, BM25, Chroma reads) and the target machine has two
cores, so more parallel extractive answers only contend; with an LLM each answer mostly waits on
the provider for seconds, and 8 in flight hide that wait. 20 simultaneous users therefore queue
for at most a few answers' time (extractive: ~1 s for the last of 20 on two cores). Writes are
one at a time because the store serializes them under its own lock anyway and embedding a batch
of articles already uses every core. The queue holds up to `QUEUE_MAX_SIZE` = 256 waiting events
before refusing new ones with a "queue full" message.

Safety
------
Binds 127.0.0.1 unless told otherwise; `QA_AUTH=user:password` turns on Gradio's login, and
binding any other address without it prints a warning. Uploads are limited to
`settings.max_file_bytes` each (enforced by Gradio at upload and again here) and `MAX_FILES` per
batch; each upload is copied into a fresh temporary folder under a sanitized name before it is
ingested, so a file name never reaches a path unchecked.
"""

from __future__ import annotations

import html
import ipaddress
import logging
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from qa.conversation import Conversation, Turn
from qa.errors import ConfigError, InputError, NotFoundError, QAError
from qa.ingest import make_doc_id
from qa.types import Answer, Article, ArticleInfo, Citation, Claim, IngestResult, Summary

if TYPE_CHECKING:
    from qa.service import QA

__all__ = ["MAX_FILES", "build_app", "launch", "launch_options", "safe_upload_name"]

logger = logging.getLogger(__name__)

MAX_FILES = 50  # per upload; a whole folder belongs to `qa ingest FOLDER`
ANSWER_CONCURRENCY = 8  # see "Queue and concurrency" above
QUEUE_MAX_SIZE = 256
MAX_LIBRARY_ROWS = 500  # rows drawn at once; the filters narrow the rest
WRITE_GROUP = "write"
EXPORT_TTL_S = 3600  # seconds an exported conversation file is kept on the server

# "[1]", "[1, 2]", "[1;3]": the answer's citation markers as the service writes them.
_MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
# Between a claim's words in the answer: spaces and citation markers, in any number.
_GAP = r"(?:\s|\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\])*"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_SUFFIX_OK = re.compile(r"^\.[a-z0-9]{1,10}$")


# --- HTML pieces (every outside string goes through _e) ------------------------------------------


def _e(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _day_of(published_at: str | None) -> str:
    return (published_at or "")[:10]


def _meta_line(source: str, published_at: str | None, extra: Sequence[str] = ()) -> str:
    parts = [p for p in (source, _day_of(published_at), *extra) if p]
    return " · ".join(_e(p) for p in parts)


def _chip(n: int, kind: str, turn: int, tip: str = "") -> str:
    title = f' title="{_e(tip)}"' if tip else ""
    return (
        f'<button type="button" class="qa-chip" data-kind="{_e(kind)}" data-turn="{turn}" '
        f'data-n="{n}" aria-label="Open source {n}"{title}>{n}</button>'
    )


def _markers_html(escaped: str, by_n: dict[int, Citation], kind: str, turn: int) -> str:
    """Turn the markers of already escaped text into chips; unknown numbers stay as text."""

    def chips(m: re.Match[str]) -> str:
        ns = [int(x) for x in re.split(r"\s*[,;]\s*", m.group(1).strip())]
        if not by_n or not all(n in by_n for n in ns):
            return m.group(0)
        inner = "".join(_chip(n, kind, turn, by_n[n].text) for n in ns)
        return f'<span class="qa-chips">{inner}</span>'

    return _MARKER.sub(chips, escaped)


def _claim_spans(text: str, claims: Sequence[Claim] | None) -> list[tuple[int, int, Claim]]:
    """Where each partly or un-supported claim sits in the answer text (markers may interleave)."""
    spans: list[tuple[int, int, Claim]] = []
    at = 0
    for claim in claims or []:
        tokens = re.findall(r"\w+|[^\w\s]", claim.text)
        if not tokens:
            continue
        m = re.search(_GAP.join(re.escape(t) for t in tokens), text[at:])
        if m is None:
            continue
        start, end = at + m.start(), at + m.end()
        at = end
        if claim.support != "supported":
            spans.append((start, end, claim))
    return spans


def answer_text_html(
    text: str,
    citations: Sequence[Citation],
    *,
    kind: str,
    turn: int,
    claims: Sequence[Claim] | None = None,
) -> str:
    """An answer's text, escaped, with clickable chips and unsupported claims marked."""
    by_n = {c.n: c for c in citations}
    out: list[str] = []
    pos = 0
    for start, end, claim in _claim_spans(text, claims):
        out.append(_markers_html(_e(text[pos:start]), by_n, kind, turn))
        label = (
            "Not supported by the cited sentences"
            if claim.support == "unsupported"
            else "Only partly supported by the cited sentences"
        )
        body = _markers_html(_e(text[start:end]), by_n, kind, turn)
        out.append(
            f'<span class="qa-claim qa-{_e(claim.support)}" title="{label}">{body}'
            f'<span class="qa-claim-tag">{_e(claim.support)}</span></span>'
        )
        pos = end
    out.append(_markers_html(_e(text[pos:]), by_n, kind, turn))
    return "".join(out)


def _sources_html(citations: Sequence[Citation], kind: str, turn: int, heading: str) -> str:
    """The cited sentences grouped by article, in order of first citation."""
    if not citations:
        return ""
    groups: dict[str, list[Citation]] = {}
    for c in citations:
        groups.setdefault(c.doc_id, []).append(c)
    blocks = []
    for cites in groups.values():
        first = cites[0]
        lines = "".join(
            f'<li>{_chip(c.n, kind, turn, c.text)}<span class="qa-src-text">{_e(c.text)}</span></li>'
            for c in cites
        )
        blocks.append(
            f'<div class="qa-src"><div><span class="qa-src-title">{_e(first.title or first.doc_id)}'
            f'</span> <span class="qa-src-meta">{_meta_line(first.source, first.published_at)}'
            f"</span></div><ol>{lines}</ol></div>"
        )
    return f'<div class="qa-sources"><div class="qa-sources-head">{_e(heading)}</div>{"".join(blocks)}</div>'


def _meta_html(answer: Answer | Summary) -> str:
    bits: list[str] = [answer.mode]
    if isinstance(answer, Answer):
        bits.append(f"confidence {answer.confidence:.2f}")
    total = answer.timings_ms.get("total")
    if total is not None:
        bits.append(f"{total:,.0f} ms")
    if answer.tokens:
        n = answer.tokens.get("total") or sum(answer.tokens.values())
        bits.append(f"{n:,} tokens")
    cost = getattr(answer, "cost_usd", None)
    if cost is not None:
        bits.append(f"≈ ${cost:.4f}")
    notes = []
    dropped = getattr(answer, "dropped_citations", None)
    if dropped:
        notes.append(f"{dropped} citation(s) that matched no source were removed")
    fallback = getattr(answer, "fallback", None)
    if fallback:
        notes.append(f"answered without the model: {fallback}")
    note_html = "".join(f'<div class="qa-note">{_e(n)}</div>' for n in notes)
    return f'<div class="qa-meta">{_e(" · ".join(bits))}</div>{note_html}'


def _unplaced_claims_html(answer: Answer | Summary) -> str:
    placed = {id(c) for _, _, c in _claim_spans(_text_of(answer), answer.claims)}
    loose = [c for c in answer.claims or [] if c.support != "supported" and id(c) not in placed]
    if not loose:
        return ""
    items = "".join(f'<li><span class="qa-claim-tag">{_e(c.support)}</span> {_e(c.text)}</li>' for c in loose)
    return f'<div class="qa-claims-list">Weakly supported claims:<ul>{items}</ul></div>'


def _text_of(answer: Answer | Summary) -> str:
    return answer.answer if isinstance(answer, Answer) else answer.summary


def answer_html(answer: Answer, turn: int) -> str:
    """The body of one answered turn: text, chips, sources (or related sentences), meta."""
    if answer.abstained:
        return (
            '<div class="qa-abstained-badge">Not found in the articles</div>'
            f'<div class="qa-answer-text">{_e(answer.answer)}</div>'
            + _sources_html(answer.related, "related", turn, "Closest sentences in the library")
            + _meta_html(answer)
        )
    text = answer_text_html(answer.answer, answer.citations, kind="answer", turn=turn, claims=answer.claims)
    return (
        f'<div class="qa-answer-text">{text}</div>'
        + _unplaced_claims_html(answer)
        + _sources_html(answer.citations, "answer", turn, "Sources")
        + _meta_html(answer)
    )


def _user_html(question: str, standalone: str | None) -> str:
    searched = ""
    if standalone and standalone.strip() != question.strip():
        searched = f'<div class="qa-searched">searched as: {_e(standalone)}</div>'
    return f'<div class="qa-msg qa-user"><div>{_e(question)}</div>{searched}</div>'


EMPTY_CHAT = (
    '<div class="qa-empty"><div class="qa-empty-title">Ask about your articles</div>'
    "<div>Answers quote the articles' own sentences. Click a number to read the sentence in "
    "its article.</div></div>"
)


def transcript_html(
    turns: Sequence[Turn],
    *,
    pending: tuple[str, str | None, str] | None = None,
    error: tuple[str, str] | None = None,
) -> str:
    """The whole conversation; `pending` is (question, standalone, text so far) while streaming."""
    parts: list[str] = []
    for i, t in enumerate(turns):
        cls = "qa-bot qa-abstained" if t.answer.abstained else "qa-bot"
        parts.append(
            f'<div class="qa-turn" data-turn="{i}">{_user_html(t.question, t.standalone)}'
            f'<div class="qa-msg {cls}">{answer_html(t.answer, i)}</div></div>'
        )
    if pending is not None:
        question, standalone, so_far = pending
        body = (
            f'<div class="qa-answer-text">{_e(so_far)}<span class="qa-cursor"></span></div>'
            if so_far
            else '<div class="qa-thinking">Searching the articles…</div>'
        )
        parts.append(
            f'<div class="qa-turn qa-pending">{_user_html(question, standalone)}'
            f'<div class="qa-msg qa-bot">{body}</div></div>'
        )
    if error is not None:
        question, message = error
        parts.append(
            f'<div class="qa-turn">{_user_html(question, None)}'
            f'<div class="qa-msg qa-bot qa-error">{_e(message)}</div></div>'
        )
    if not parts:
        return f'<div class="qa-chat">{EMPTY_CHAT}</div>'
    return f'<div class="qa-chat">{"".join(parts)}</div>'


def _locate(text: str, c: Citation) -> tuple[int, int] | None:
    """The citation's span in this version of the text, or None if the sentence is gone."""
    if 0 <= c.start < c.end <= len(text) and text[c.start : c.end] == c.text:
        return c.start, c.end
    at = text.find(c.text) if c.text else -1
    return (at, at + len(c.text)) if at >= 0 else None


def article_html(
    article: Article,
    citations: Sequence[Citation] = (),
    active: int | None = None,
    *,
    heading: str = "",
) -> str:
    """An article's full text with the given citations highlighted at their stored spans."""
    text = article.text
    spans: dict[tuple[int, int], list[int]] = {}
    missing: list[Citation] = []
    for c in citations:
        if c.doc_id != article.doc_id:
            continue
        span = _locate(text, c)
        if span is None:
            missing.append(c)
        else:
            spans.setdefault(span, []).append(c.n)
    pieces: list[str] = []
    pos = 0
    for (start, end), ns in sorted(spans.items()):
        if start < pos:  # overlapping spans never come from one article version; skip safely
            continue
        cls = "qa-hl qa-active" if active in ns else "qa-hl"
        label = ", ".join(str(n) for n in ns)
        pieces.append(_e(text[pos:start]))
        pieces.append(
            f'<mark class="{cls}" data-n="{_e(label)}" data-start="{start}" data-end="{end}">'
            f"{_e(text[start:end])}</mark>"
        )
        pos = end
    pieces.append(_e(text[pos:]))
    meta = _meta_line(
        article.source, article.published_at, [f"by {article.byline}"] if article.byline else []
    )
    link = ""
    if article.url and re.match(r"^https?://", article.url, re.I):
        link = (
            f'<a class="qa-url" href="{_e(article.url)}" target="_blank" '
            f'rel="noopener noreferrer nofollow">{_e(article.url)}</a>'
        )
    notes = "".join(
        f'<div class="qa-note">Sentence [{c.n}] is no longer in this article (it was replaced '
        f"since the answer): “{_e(c.text)}”</div>"
        for c in missing
    )
    head = f'<div class="qa-panel-head">{_e(heading)}</div>' if heading else ""
    return (
        f'<div class="qa-article" data-doc="{_e(article.doc_id)}">{head}'
        f'<h3 class="qa-article-title">{_e(article.title or article.doc_id)}</h3>'
        f'<div class="qa-article-meta">{meta}</div>{link}'
        f'<div class="qa-article-id">{_e(article.doc_id)} · {article.n_sentences} sentences</div>'
        f'{notes}<div class="qa-article-body">{"".join(pieces)}</div></div>'
    )


def panel_message(message: str) -> str:
    return f'<div class="qa-panel-empty">{_e(message)}</div>'


SOURCE_EMPTY = panel_message("Click a citation number to read the cited sentence in its article.")


def summary_html(summary: Summary) -> str:
    if not summary.summary.strip():
        return panel_message("Nothing to summarize.")
    return (
        '<div class="qa-summary"><div class="qa-answer-text">'
        + answer_text_html(summary.summary, summary.citations, kind="summary", turn=0, claims=summary.claims)
        + "</div>"
        + _unplaced_claims_html(summary)
        + _sources_html(summary.citations, "summary", 0, "Sources")
        + _meta_html(summary)
        + "</div>"
    )


def library_html(rows: Sequence[ArticleInfo], total: int) -> str:
    if total == 0:
        return panel_message("The library is empty. Add files or paste an article.")
    if not rows:
        return panel_message(f"No article matches the filters ({total} in the library).")
    shown = rows[:MAX_LIBRARY_ROWS]
    count = f"{len(rows)} of {total} articles" if len(rows) != total else f"{total} articles"
    if len(rows) > len(shown):
        count += f" (showing the first {len(shown)}; narrow the filters)"
    body = []
    for r in shown:
        doc = _e(r.doc_id)
        body.append(
            "<tr>"
            f'<td><button type="button" class="qa-link" data-action="read" data-doc="{doc}">'
            f'{_e(r.title or r.doc_id)}</button><div class="qa-docid">{doc}</div></td>'
            f'<td>{_e(r.source)}</td><td class="qa-nowrap">{_e(_day_of(r.published_at))}</td>'
            f'<td class="qa-num">{r.n_sentences}</td>'
            f'<td><button type="button" class="qa-del" data-action="delete" data-doc="{doc}">'
            "Delete</button></td></tr>"
        )
    return (
        f'<div class="qa-lib-count">{_e(count)}</div><table class="qa-table"><thead><tr>'
        "<th>Title</th><th>Source</th><th>Date</th><th>Sentences</th><th></th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def ingest_results_html(results: Sequence[IngestResult], note: str = "") -> str:
    """One line per file (or jsonl record): its status, then the article it made or why not."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to add"
    items = []
    for r in results:
        if r.status == "failed":
            detail = _e(r.reason or "failed")
        else:
            detail = f"{_e(r.doc_id or '')} · {r.n_sentences} sentences"
        items.append(
            f'<li class="qa-st-{_e(r.status)}"><span class="qa-status">{_e(r.status)}</span>'
            f'<span class="qa-file">{_e(r.path)}</span><div class="qa-why">{detail}</div></li>'
        )
    note_html = f'<div class="qa-note">{_e(note)}</div>' if note else ""
    listing = f'<ul class="qa-results">{"".join(items)}</ul>' if items else ""
    return f'<div class="qa-ingest"><div class="qa-lib-count">{_e(summary)}</div>{note_html}{listing}</div>'


def _result_json(r: IngestResult) -> dict[str, Any]:
    # "file", not "path": gradio_client takes any {"path": str} it receives for a file to fetch.
    data = r.model_dump(mode="json")
    data["file"] = data.pop("path")
    return data


def error_html(message: str) -> str:
    return f'<div class="qa-error">{_e(message)}</div>'


# --- Markdown export ------------------------------------------------------------------------------


def _cite_md(c: Citation) -> str:
    meta = ", ".join(p for p in (c.title or c.doc_id, c.source, _day_of(c.published_at)) if p)
    return f"[{c.n}] “{c.text}” — {meta} ({c.doc_id}, characters {c.start}–{c.end})"


def conversation_markdown(turns: Sequence[Turn]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Conversation ({now})", ""]
    for i, t in enumerate(turns, 1):
        a = t.answer
        lines += [f"## {i}. {t.question}", ""]
        if t.standalone and t.standalone.strip() != t.question.strip():
            lines += [f"_Searched as: {t.standalone}_", ""]
        lines += [a.answer, ""]
        if a.abstained:
            if a.related:
                lines += ["Closest sentences:", ""] + [f"- {_cite_md(c)}" for c in a.related]
                lines.append("")
            continue
        weak = [c for c in a.claims or [] if c.support != "supported"]
        if weak:
            lines += ["Weakly supported claims:", ""]
            lines += [f"- ({c.support}) {c.text}" for c in weak] + [""]
        if a.citations:
            lines += ["Sources:", ""] + [f"- {_cite_md(c)}" for c in a.citations] + [""]
    return "\n".join(lines).rstrip() + "\n"


# --- uploads ------------------------------------------------------------------------------------


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


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def _upload_paths(files: Any) -> list[Path]:
    """Paths Gradio stored the uploads at (Gradio checked them; we only read them)."""
    if not files:
        return []
    return [Path(f) for f in (files if isinstance(files, list) else [files])]


# --- the app -------------------------------------------------------------------------------------


def _parse_day(value: Any, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).date()
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise InputError(f"{name} must be a date like 2023-09-11, not {str(value)!r}.") from None


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _filter_rows(
    rows: Sequence[ArticleInfo],
    text: str | None,
    sources: Sequence[str] | None,
    since: date | None,
    until: date | None,
) -> list[ArticleInfo]:
    needle = (text or "").strip().lower()
    chosen = set(sources or [])
    out = []
    for r in rows:
        if needle and not any(needle in (v or "").lower() for v in (r.title, r.source, r.doc_id)):
            continue
        if chosen and r.source not in chosen:
            continue
        day = _day_of(r.published_at)
        if (since or until) and not day:
            continue
        if since and day < since.isoformat():
            continue
        if until and day > until.isoformat():
            continue
        out.append(r)
    return out


def _article_choices(rows: Sequence[ArticleInfo]) -> list[tuple[str, str]]:
    choices = []
    for r in rows:
        label = r.title or r.doc_id
        extra = " · ".join(p for p in (r.source, _day_of(r.published_at)) if p)
        choices.append((f"{label} ({extra})" if extra else label, r.doc_id))
    return choices


TRANSCRIPT_JS = """
element.addEventListener('click', function (event) {
  const chip = event.target.closest('button.qa-chip');
  if (!chip || !element.contains(chip)) return;
  event.preventDefault();
  element.querySelectorAll('button.qa-chip.qa-active').forEach(function (b) {
    b.classList.remove('qa-active');
  });
  chip.classList.add('qa-active');
  trigger('click', {
    kind: chip.dataset.kind, turn: Number(chip.dataset.turn), n: Number(chip.dataset.n)
  });
});
"""

SOURCE_JS = """
function focusMark() {
  const mark = element.querySelector('mark.qa-active') || element.querySelector('mark.qa-hl');
  const body = element.querySelector('.qa-article-body');
  if (!mark || !body) return;
  body.scrollTop = Math.max(0, mark.offsetTop - body.clientHeight / 3);
  const box = element.getBoundingClientRect();
  if (box.top < 0 || box.top > window.innerHeight - 80) {
    element.scrollIntoView({block: 'start', behavior: 'smooth'});
  }
}
watch('value', function () { requestAnimationFrame(focusMark); });
requestAnimationFrame(focusMark);
"""

LIBRARY_JS = """
element.addEventListener('click', function (event) {
  const button = event.target.closest('button[data-action]');
  if (!button || !element.contains(button)) return;
  event.preventDefault();
  trigger('click', {action: button.dataset.action, doc_id: button.dataset.doc});
});
"""

CSS = """
.qa-header h1 { margin: 0 0 .2rem 0; font-size: 1.5rem; }
.qa-header .qa-about { color: var(--body-text-color-subdued); font-size: .85rem; }
.qa-chat { display: flex; flex-direction: column; gap: 1rem; padding: .25rem; }
.qa-empty { text-align: center; color: var(--body-text-color-subdued); padding: 3rem 1rem; }
.qa-empty-title { font-size: 1.2rem; font-weight: 600; margin-bottom: .4rem;
  color: var(--body-text-color); }
.qa-turn { display: flex; flex-direction: column; gap: .5rem; }
.qa-msg { border-radius: 12px; padding: .7rem .9rem; line-height: 1.55;
  border: 1px solid var(--border-color-primary); }
.qa-user { align-self: flex-end; max-width: 85%; background: var(--color-accent-soft); }
.qa-bot { background: var(--background-fill-secondary); }
.qa-searched, .qa-meta, .qa-docid, .qa-article-id, .qa-src-meta, .qa-lib-count {
  color: var(--body-text-color-subdued); font-size: .8rem; }
.qa-meta { margin-top: .5rem; }
.qa-answer-text { white-space: pre-wrap; }
.qa-thinking { color: var(--body-text-color-subdued); font-style: italic; }
.qa-cursor::after { content: '▍'; animation: qa-blink 1s steps(2) infinite; }
@keyframes qa-blink { 50% { opacity: 0; } }
.qa-chips { white-space: nowrap; }
.qa-chip { display: inline-block; min-width: 1.4rem; margin: 0 1px; padding: 0 .35rem;
  border-radius: 999px; border: 1px solid var(--color-accent); background: transparent;
  color: var(--color-accent); font-size: .75rem; line-height: 1.2rem; cursor: pointer;
  vertical-align: super; }
.qa-chip:hover, .qa-chip.qa-active { background: var(--color-accent); color: white; }
.qa-sources { margin-top: .6rem; font-size: .85rem; }
.qa-sources-head { font-weight: 600; margin-bottom: .2rem; }
.qa-src { margin: .35rem 0 .5rem 0; }
.qa-sources ol { list-style: none; padding: 0; margin: .15rem 0 0 0; }
.qa-sources li { margin: .2rem 0; display: flex; gap: .45rem; align-items: baseline; }
.qa-sources .qa-chip { vertical-align: baseline; flex: none; }
.qa-src-title { font-weight: 600; }
.qa-src-text { color: var(--body-text-color-subdued); }
.qa-abstained-badge { display: inline-block; font-size: .75rem; font-weight: 600;
  padding: .1rem .5rem; border-radius: 6px; margin-bottom: .35rem;
  background: var(--color-yellow-100, #fef3c7); color: #92400e; }
.qa-claim.qa-unsupported { text-decoration: underline wavy #dc2626; }
.qa-claim.qa-partial { text-decoration: underline dotted #d97706; }
.qa-claim-tag { font-size: .65rem; text-transform: uppercase; letter-spacing: .03em;
  margin-left: .25rem; padding: 0 .3rem; border-radius: 4px; background: #fee2e2;
  color: #991b1b; vertical-align: middle; }
.qa-partial .qa-claim-tag { background: #fef3c7; color: #92400e; }
.qa-error { color: #b91c1c; }
.qa-bot.qa-error { background: #fef2f2; border-color: #fecaca; }
.qa-note { font-size: .8rem; color: #92400e; margin: .3rem 0; }
.qa-panel-empty { color: var(--body-text-color-subdued); padding: 2rem 1rem; text-align: center; }
.qa-panel-head { font-size: .75rem; text-transform: uppercase; letter-spacing: .05em;
  color: var(--body-text-color-subdued); }
.qa-article-title { margin: .2rem 0 .2rem 0; font-size: 1.15rem; }
.qa-article-meta { font-size: .85rem; }
.qa-url { font-size: .8rem; word-break: break-all; }
.qa-article-body { position: relative; white-space: pre-wrap; line-height: 1.6;
  max-height: 65vh; overflow-y: auto; margin-top: .6rem; padding: .6rem .8rem;
  border: 1px solid var(--border-color-primary); border-radius: 8px;
  background: var(--background-fill-primary); }
mark.qa-hl { background: #fef08a; color: inherit; border-radius: 3px; padding: 0 1px; }
mark.qa-hl.qa-active { background: #fde047; box-shadow: 0 0 0 2px #eab308; }
mark.qa-hl::before { content: attr(data-n); font-size: .65rem; font-weight: 700;
  color: #a16207; vertical-align: super; margin-right: 2px; }
.qa-table { width: 100%; border-collapse: collapse; font-size: .88rem; margin: .3rem 0;
  border: none !important; }
.qa-table thead, .qa-table tbody, .qa-table tr { border: none !important; }
.qa-table th, .qa-table td { border: none !important; padding: .35rem .4rem; vertical-align: top;
  border-bottom: 1px solid var(--border-color-primary) !important; text-align: left; }
.qa-table th { font-weight: 600; }
.qa-table td.qa-num { text-align: right; white-space: nowrap; }
.qa-num { text-align: right; }
.qa-nowrap { white-space: nowrap; }
.qa-link { background: none; border: none; box-shadow: none; padding: 0; font: inherit;
  color: var(--link-text-color, #2563eb); cursor: pointer; text-align: left; }
.qa-link:hover { text-decoration: underline; }
.qa-del { background: none; border: 1px solid #fca5a5; color: #b91c1c; border-radius: 6px;
  padding: .05rem .5rem; cursor: pointer; font-size: .8rem; }
.qa-results { list-style: none; padding: 0; margin: .3rem 0; font-size: .88rem; }
.qa-results li { padding: .3rem 0; border-bottom: 1px solid var(--border-color-primary); }
.qa-status { font-weight: 600; margin-right: .5rem; text-transform: uppercase; font-size: .72rem; }
.qa-file { word-break: break-all; }
.qa-why { color: var(--body-text-color-subdued); font-size: .8rem; }
.qa-st-failed .qa-status { color: #b91c1c; }
.qa-st-added .qa-status { color: #15803d; }
.qa-st-replaced .qa-status { color: #1d4ed8; }
.qa-st-unchanged .qa-status { color: var(--body-text-color-subdued); }
"""

THEME = gr.themes.Soft(
    primary_hue="indigo",
    # System fonts: the default theme fetches Google Fonts, which an offline server cannot.
    font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
)


def _about_html(qa: QA) -> str:
    s = qa.settings
    llm = f"{s.llm_model} (LLM configured)" if s.llm_configured else "none (extractive answers)"
    store = (
        f"Chroma server {qa.store.url}"
        if qa.store.url
        else f"embedded Chroma in {s.home} (collection {s.collection})"
    )
    try:
        embedder = qa.embedder.name
    except QAError as exc:
        embedder = f"unavailable: {exc.user_message()}"
    return (
        '<div class="qa-header"><h1>Ask the news</h1><div class="qa-about">'
        f"Embedder: {_e(embedder)} · Model: {_e(llm)} · Store: {_e(store)}</div></div>"
    )


def build_app(qa: QA) -> gr.Blocks:
    """The Blocks app over `qa`, queue configured; `launch` (or a test) starts it."""
    settings = qa.settings
    modes = ["extractive", "llm"] if settings.llm_configured else ["extractive"]
    default_mode = settings.resolved_mode() if settings.llm_configured else "extractive"
    export_dir = Path(tempfile.mkdtemp(prefix="qa-exports-"))

    # ---- service calls shared by the UI and the API -------------------------------------------

    def ask_kwargs(
        mode: str | None,
        k: Any,
        sources: Sequence[str] | None,
        since: Any,
        until: Any,
    ) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "k": int(k) if k else None,
            "sources": list(sources) if sources else None,
            "since": _parse_day(since, "'Since'"),
            "until": _parse_day(until, "'Until'"),
        }
        return {**kw, **mode_kwargs(mode)}

    def mode_kwargs(mode: str | None) -> dict[str, Any]:
        if mode == "llm" and not settings.llm_configured:
            raise InputError("LLM mode needs OPENAI_API_KEY or OPENAI_BASE_URL on the server.")
        return {"mode": mode} if mode else {}  # the service checks the name

    def ingest_uploads(
        files: Any, progress: Callable[[int, int, str], None] | None
    ) -> tuple[list[IngestResult], str]:
        paths = _upload_paths(files)
        if not paths:
            raise InputError("Choose one or more files first (.txt, .md, .html or .jsonl).")
        if len(paths) > MAX_FILES:
            raise InputError(
                f"{len(paths)} files were chosen; at most {MAX_FILES} can be added at once. "
                "Add them in smaller batches, or use `qa ingest FOLDER` for a whole collection."
            )
        limit = settings.max_file_bytes
        early: list[IngestResult] = []
        shown: dict[str, str] = {}
        taken: set[str] = set()
        with tempfile.TemporaryDirectory(prefix="qa-upload-") as tmp:
            for src in paths:
                display = src.name
                try:
                    size = src.stat().st_size
                except OSError:
                    early.append(IngestResult(path=display, status="failed", reason="the upload was lost"))
                    continue
                if size > limit:
                    early.append(
                        IngestResult(
                            path=display,
                            status="failed",
                            reason=f"{_mb(size)} is over the {_mb(limit)} limit per file",
                        )
                    )
                    continue
                name = safe_upload_name(display, taken)
                shutil.copyfile(src, Path(tmp) / name)
                shown[name] = display
            results = qa.ingest([Path(tmp) / n for n in shown], progress=progress) if shown else []
        named = [
            r.model_copy(update={"path": shown.get(Path(r.path).name, Path(r.path).name)}) for r in results
        ]
        note = ""
        if any(shown[n] != n for n in shown):
            note = "Some file names were simplified for storage; the article ids use them."
        return early + named, note

    def ingest_pasted(text: str, title: str, source: str, published_at: str) -> list[IngestResult]:
        text = (text or "").strip()
        if not text:
            raise InputError("Paste the article's text first.")
        day = _parse_day(published_at, "The date")
        title = (title or "").strip()
        doc_id = make_doc_id(title) if title else "pasted-" + uuid.uuid5(uuid.NAMESPACE_URL, text).hex[:12]
        article = Article(
            doc_id=doc_id,
            title=title,
            source=(source or "").strip(),
            published_at=day.isoformat() if day else None,
            text=text,
        )
        return [r.model_copy(update={"path": title or "pasted text"}) for r in qa.ingest_articles([article])]

    def write_export(turns: Sequence[Turn]) -> Path:
        # A fresh name per answer: Gradio copies the file into its own cache when it is returned,
        # so older exports are only litter after that and are swept here.
        now = datetime.now().timestamp()
        for old in export_dir.glob("conversation-*.md"):
            if now - old.stat().st_mtime > EXPORT_TTL_S:
                old.unlink(missing_ok=True)
        path = export_dir / f"conversation-{uuid.uuid4().hex[:12]}.md"
        path.write_text(conversation_markdown(turns), encoding="utf-8")
        return path

    # ---- UI handlers ---------------------------------------------------------------------------

    def chat(
        question: str,
        conv: Conversation,
        mode: str,
        k: Any,
        sources: list[str] | None,
        since: Any,
        until: Any,
    ) -> Iterator[tuple[Any, ...]]:
        question = (question or "").strip()
        if not question:
            yield gr.skip(), conv, gr.skip(), gr.skip()
            return
        standalone: str | None = None
        try:
            kw = ask_kwargs(mode, k, sources, since, until)
            standalone = qa.condense(conv, question, mode or None)
            yield transcript_html(conv.turns, pending=(question, standalone, "")), conv, "", gr.skip()
            so_far, final = "", None
            for piece in qa.ask_stream(standalone, **kw):
                if isinstance(piece, Answer):
                    final = piece
                else:
                    so_far += piece
                    pending = (question, standalone, so_far)
                    yield transcript_html(conv.turns, pending=pending), conv, "", gr.skip()
            if final is None:
                raise QAError("The answer stream ended without an answer.")
            conv.add(question, standalone, final)
            path = write_export(conv.turns)
            yield (
                transcript_html(conv.turns),
                conv,
                "",
                gr.DownloadButton(value=str(path), interactive=True),
            )
        except QAError as exc:
            err = (question, exc.user_message())
            yield transcript_html(conv.turns, error=err), conv, question, gr.skip()
        except Exception:
            logger.exception("answering %r failed", question)
            err = (question, "Something went wrong while answering; the server log has details.")
            yield transcript_html(conv.turns, error=err), conv, question, gr.skip()

    def open_citation(conv: Conversation, evt: gr.EventData) -> str:
        data = evt._data if isinstance(evt._data, dict) else {}
        try:
            turn, n = int(data.get("turn", -1)), int(data.get("n", -1))
        except (TypeError, ValueError):
            return SOURCE_EMPTY
        if not 0 <= turn < len(conv.turns):
            return SOURCE_EMPTY
        answer = conv.turns[turn].answer
        cites = answer.related if data.get("kind") == "related" else answer.citations
        return source_panel(cites, n)

    def source_panel(cites: Sequence[Citation], n: int) -> str:
        chosen = next((c for c in cites if c.n == n), None)
        if chosen is None:
            return SOURCE_EMPTY
        try:
            article = qa.get(chosen.doc_id)
        except NotFoundError:
            return panel_message(
                f"[{n}] “{chosen.text}” came from {chosen.title or chosen.doc_id}, "
                "which is no longer in the library."
            )
        except QAError as exc:
            return error_html(exc.user_message())
        return article_html(article, cites, n, heading=f"Source [{n}]")

    def new_conversation() -> tuple[Any, ...]:
        return (
            transcript_html([]),
            Conversation(),
            SOURCE_EMPTY,
            gr.DownloadButton(value=None, interactive=False),
            "",
        )

    def refresh(
        text: str,
        lib_sources: list[str] | None,
        since: Any,
        until: Any,
        picked: list[str] | None,
        ask_sources: list[str] | None,
    ) -> tuple[Any, ...]:
        try:
            rows = qa.list()
        except QAError as exc:
            msg = error_html(exc.user_message())
            return msg, gr.skip(), gr.skip(), gr.skip()
        try:
            shown = _filter_rows(
                rows,
                text,
                lib_sources,
                _parse_day(since, "'Since'"),
                _parse_day(until, "'Until'"),
            )
            table = library_html(shown, len(rows))
        except QAError as exc:
            table = error_html(exc.user_message())
        all_sources = sorted({r.source for r in rows if r.source})
        ids = {r.doc_id for r in rows}
        return (
            table,
            gr.Dropdown(choices=all_sources, value=[s for s in lib_sources or [] if s in all_sources]),
            gr.Dropdown(choices=_article_choices(rows), value=[d for d in picked or [] if d in ids]),
            gr.Dropdown(choices=all_sources, value=[s for s in ask_sources or [] if s in all_sources]),
        )

    def upload(files: Any, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        def report(done: int, total: int, name: str) -> None:
            progress((done, total), desc=f"Embedding articles ({name})", unit="articles")

        try:
            progress(0, desc="Reading files")
            results, note = ingest_uploads(files, report)
        except QAError as exc:
            return error_html(exc.user_message()), gr.skip()
        return ingest_results_html(results, note), None

    def paste(text: str, title: str, source: str, day: str) -> tuple[Any, ...]:
        try:
            results = ingest_pasted(text, title, source, day)
        except QAError as exc:
            return error_html(exc.user_message()), gr.skip()
        failed = any(r.status == "failed" for r in results)
        return ingest_results_html(results), gr.skip() if failed else ""

    def library_click(evt: gr.EventData) -> tuple[Any, ...]:
        data = evt._data if isinstance(evt._data, dict) else {}
        doc_id = str(data.get("doc_id") or "")
        if data.get("action") == "delete" and doc_id:
            try:
                title = qa.get(doc_id).title or doc_id
            except QAError as exc:
                return error_html(exc.user_message()), gr.skip(), gr.skip(), None
            question = f"Delete “{title}” ({doc_id}) and its sentences?"
            ask = f'<div class="qa-confirm">{_e(question)}</div>'
            return gr.skip(), gr.Row(visible=True), ask, doc_id
        try:
            article = qa.get(doc_id)
        except QAError as exc:
            return error_html(exc.user_message()), gr.Row(visible=False), "", None
        return article_html(article, heading="Article"), gr.Row(visible=False), "", None

    def confirm_delete(doc_id: str | None) -> tuple[Any, ...]:
        if not doc_id:
            return gr.skip(), gr.Row(visible=False), None
        try:
            qa.delete(doc_id)
        except QAError as exc:
            return error_html(exc.user_message()), gr.Row(visible=False), None
        return panel_message(f"Deleted {doc_id}."), gr.Row(visible=False), None

    def summarize_view(picked: list[str] | None, query: str, mode: str) -> tuple[Any, ...]:
        query = (query or "").strip()
        if not picked and not query:
            return error_html("Pick one or more articles, or type what to summarize."), None, gr.skip()
        try:
            s = qa.summarize(picked or [], query=query or None, **mode_kwargs(mode))
        except QAError as exc:
            return error_html(exc.user_message()), None, gr.skip()
        except Exception:
            logger.exception("summarizing %r / %r failed", picked, query)
            return error_html("Something went wrong; the server log has details."), None, gr.skip()
        return summary_html(s), s, SOURCE_EMPTY

    def open_summary_citation(s: Summary | None, evt: gr.EventData) -> str:
        data = evt._data if isinstance(evt._data, dict) else {}
        if s is None:
            return SOURCE_EMPTY
        try:
            n = int(data.get("n", -1))
        except (TypeError, ValueError):
            return SOURCE_EMPTY
        return source_panel(s.citations, n)

    # ---- API handlers (gradio_client): JSON in, JSON out; QAError -> gr.Error ------------------

    def api_ask(
        question: str,
        k: int | None = None,
        sources: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        mode: str | None = None,
    ) -> dict:
        """Answer a question with cited sentences (the Answer record as JSON)."""
        try:
            return qa.ask(question, **ask_kwargs(mode, k, sources, since, until)).model_dump(mode="json")
        except QAError as exc:
            raise gr.Error(exc.user_message()) from exc

    def api_ask_stream(
        question: str,
        k: int | None = None,
        sources: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        mode: str | None = None,
    ) -> Iterator[dict]:
        """Stream an answer: {"text": so far, "done": false} ..., then the final
        {"text", "done": true, "answer": Answer JSON}."""
        try:
            so_far = ""
            for piece in qa.ask_stream(question, **ask_kwargs(mode, k, sources, since, until)):
                if isinstance(piece, Answer):
                    yield {"text": piece.answer, "done": True, "answer": piece.model_dump(mode="json")}
                else:
                    so_far += piece
                    yield {"text": so_far, "done": False, "answer": None}
        except QAError as exc:
            raise gr.Error(exc.user_message()) from exc

    def api_summarize(
        doc_ids: list[str] | None = None, query: str | None = None, mode: str | None = None
    ) -> dict:
        """A cited summary of the given articles, or of what the query finds (Summary JSON)."""
        try:
            if not doc_ids and not (query or "").strip():
                raise InputError("Give doc_ids or a query.")
            s = qa.summarize(doc_ids or [], query=query or None, **mode_kwargs(mode))
            return s.model_dump(mode="json")
        except QAError as exc:
            raise gr.Error(exc.user_message()) from exc

    def api_articles() -> list[dict]:
        """The stored articles (ArticleInfo JSON, without text)."""
        try:
            return [r.model_dump(mode="json") for r in qa.list()]
        except QAError as exc:
            raise gr.Error(exc.user_message()) from exc

    def api_ingest_text(
        text: str, title: str = "", source: str = "", published_at: str | None = None
    ) -> list[dict]:
        """Add one article from its text; returns the IngestResult records."""
        try:
            return [_result_json(r) for r in ingest_pasted(text, title, source, published_at or "")]
        except QAError as exc:
            raise gr.Error(exc.user_message()) from exc

    def api_ingest(files: Any) -> list[dict]:
        try:
            results, _ = ingest_uploads(files, None)
        except QAError as exc:
            raise gr.Error(exc.user_message()) from exc
        return [_result_json(r) for r in results]

    # ---- layout ------------------------------------------------------------------------------

    with gr.Blocks(title="Ask the news", analytics_enabled=False, delete_cache=(3600, 86400)) as app:
        conv_state = gr.State(Conversation())
        summary_state = gr.State(None)
        pending_delete = gr.State(None)
        gr.HTML(_about_html(qa), elem_id="qa-about")

        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        transcript = gr.HTML(
                            transcript_html([]),
                            elem_id="qa-transcript",
                            js_on_load=TRANSCRIPT_JS,
                            max_height=640,
                            autoscroll=True,
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                placeholder="Ask a question about the articles…",
                                show_label=False,
                                lines=1,
                                max_lines=6,
                                scale=6,
                                elem_id="qa-question",
                            )
                            ask_btn = gr.Button("Ask", variant="primary", scale=1, elem_id="qa-ask")
                        with gr.Row():
                            new_btn = gr.Button("New conversation", size="sm", elem_id="qa-new")
                            export_btn = gr.DownloadButton(
                                "Export as Markdown",
                                size="sm",
                                interactive=False,
                                elem_id="qa-export",
                            )
                    with gr.Column(scale=2):
                        source = gr.HTML(SOURCE_EMPTY, elem_id="qa-source", js_on_load=SOURCE_JS)

            with gr.Tab("Library", id="library"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        with gr.Row():
                            f_text = gr.Textbox(
                                label="Filter",
                                placeholder="title, source or id",
                                scale=2,
                                elem_id="qa-filter",
                            )
                            f_sources = gr.Dropdown(label="Sources", choices=[], multiselect=True, scale=2)
                            f_since = gr.DateTime(
                                label="Since", include_time=False, type="string", scale=1, elem_id="qa-since"
                            )
                            f_until = gr.DateTime(
                                label="Until", include_time=False, type="string", scale=1, elem_id="qa-until"
                            )
                        library = gr.HTML(
                            panel_message("Loading…"), elem_id="qa-library", js_on_load=LIBRARY_JS
                        )
                        with gr.Row(visible=False) as confirm_row:
                            confirm_text = gr.HTML("")
                            confirm_btn = gr.Button(
                                "Delete", variant="stop", size="sm", elem_id="qa-confirm-delete"
                            )
                            cancel_btn = gr.Button("Cancel", size="sm")
                        reader = gr.HTML("", elem_id="qa-reader")
                    with gr.Column(scale=2):
                        files = gr.File(
                            label=(
                                f"Add files: .txt, .md, .html, .jsonl (up to {MAX_FILES} files, "
                                f"{_mb(settings.max_file_bytes)} each)"
                            ),
                            file_count="multiple",
                            type="filepath",
                            elem_id="qa-files",
                        )
                        upload_btn = gr.Button("Add to library", variant="primary", elem_id="qa-upload")
                        with gr.Accordion("Paste an article", open=False):
                            p_text = gr.Textbox(label="Text", lines=8, elem_id="qa-paste-text")
                            p_title = gr.Textbox(label="Title (optional)")
                            with gr.Row():
                                p_source = gr.Textbox(label="Source (optional)")
                                p_date = gr.Textbox(label="Date (optional)", placeholder="YYYY-MM-DD")
                            paste_btn = gr.Button("Add pasted article", elem_id="qa-paste")
                        results = gr.HTML("", elem_id="qa-ingest-results")

            with gr.Tab("Summaries", id="summaries"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        s_docs = gr.Dropdown(
                            label="Articles", choices=[], multiselect=True, elem_id="qa-s-docs"
                        )
                        s_query = gr.Textbox(
                            label="…or summarize what a query finds",
                            placeholder="e.g. Armenia and Russia",
                            elem_id="qa-s-query",
                        )
                        s_btn = gr.Button("Summarize", variant="primary", elem_id="qa-summarize")
                        s_out = gr.HTML(
                            panel_message("Pick articles or type a query, then Summarize."),
                            elem_id="qa-summary",
                            js_on_load=TRANSCRIPT_JS,
                        )
                    with gr.Column(scale=2):
                        s_source = gr.HTML(SOURCE_EMPTY, elem_id="qa-summary-source", js_on_load=SOURCE_JS)

            with gr.Tab("Settings", id="settings"):
                gr.HTML(
                    '<div class="qa-about">These apply to every question asked in the Chat tab; '
                    "the mode also applies to Summaries. In LLM mode each answer shows the tokens it "
                    "used and, for known OpenAI models, its estimated cost.</div>"
                )
                mode = gr.Radio(
                    modes,
                    value=default_mode,
                    label="Answer mode",
                    info=(
                        "extractive: the answer is the best cited sentences; llm: the model "
                        "writes an answer citing them"
                        if settings.llm_configured
                        else "Only extractive: set OPENAI_API_KEY or OPENAI_BASE_URL for LLM mode"
                    ),
                    interactive=len(modes) > 1,
                )
                k = gr.Slider(1, 20, value=settings.k, step=1, label="Number of sources (k)")
                a_sources = gr.Dropdown(label="Only these sources", choices=[], multiselect=True)
                with gr.Row():
                    a_since = gr.DateTime(label="Published since", include_time=False, type="string")
                    a_until = gr.DateTime(label="Published until", include_time=False, type="string")

        # hidden components of the file-ingest API (files need a File component to be checked)
        api_files = gr.File(file_count="multiple", type="filepath", visible=False, label="files")
        api_result = gr.JSON(visible=False, label="results")
        api_trigger = gr.Button(visible=False)

        # ---- events ----------------------------------------------------------------------------
        private: dict[str, Any] = {"api_visibility": "private"}
        chat_io: dict[str, Any] = {
            "fn": chat,
            "inputs": [question, conv_state, mode, k, a_sources, a_since, a_until],
            "outputs": [transcript, conv_state, question, export_btn],
            "show_progress": "hidden",
            **private,
        }
        question.submit(**chat_io)
        ask_btn.click(**chat_io)
        transcript.click(open_citation, [conv_state], [source], **private)
        new_btn.click(
            new_conversation,
            None,
            [transcript, conv_state, source, export_btn, question],
            **private,
        )

        refresh_io: dict[str, Any] = {
            "fn": refresh,
            "inputs": [f_text, f_sources, f_since, f_until, s_docs, a_sources],
            "outputs": [library, f_sources, s_docs, a_sources],
            **private,
        }
        app.load(**refresh_io)
        for control in (f_text, f_since, f_until):
            control.change(**refresh_io, show_progress="hidden")
        f_sources.input(**refresh_io, show_progress="hidden")
        write: dict[str, Any] = {"concurrency_id": WRITE_GROUP, "concurrency_limit": 1}
        upload_btn.click(upload, [files], [results, files], **write, **private).then(**refresh_io)
        paste_btn.click(
            paste, [p_text, p_title, p_source, p_date], [results, p_text], **write, **private
        ).then(**refresh_io)
        library.click(library_click, None, [reader, confirm_row, confirm_text, pending_delete], **private)
        confirm_btn.click(
            confirm_delete,
            [pending_delete],
            [reader, confirm_row, pending_delete],
            **write,
            **private,
        ).then(**refresh_io)
        cancel_btn.click(
            lambda: (gr.Row(visible=False), None), None, [confirm_row, pending_delete], **private
        )

        summarize_io: dict[str, Any] = {
            "fn": summarize_view,
            "inputs": [s_docs, s_query, mode],
            "outputs": [s_out, summary_state, s_source],
            **private,
        }
        s_btn.click(**summarize_io)
        s_query.submit(**summarize_io)
        s_out.click(open_summary_citation, [summary_state], [s_source], **private)

        gr.api(api_ask, api_name="ask")
        gr.api(api_ask_stream, api_name="ask_stream")
        gr.api(api_summarize, api_name="summarize")
        gr.api(api_articles, api_name="articles")
        gr.api(api_ingest_text, api_name="ingest_text", **write)
        api_trigger.click(
            api_ingest,
            [api_files],
            [api_result],
            api_name="ingest",
            api_description="Add files (txt, md, html, jsonl); returns one IngestResult per "
            "article or failure.",
            **write,
        )

    app.queue(default_concurrency_limit=ANSWER_CONCURRENCY, max_size=QUEUE_MAX_SIZE)
    return app


def launch_options(qa: QA) -> dict[str, Any]:
    """The keyword arguments `launch` passes to `Blocks.launch` (tests reuse them)."""
    s = qa.settings
    options: dict[str, Any] = {
        "server_name": s.host,
        "server_port": s.port,
        "max_file_size": s.max_file_bytes,
        "theme": THEME,
        "css": CSS,
        "footer_links": ["api"],
        "show_error": False,
    }
    if s.auth:
        user, sep, password = s.auth.partition(":")
        if not sep or not user or not password:
            raise ConfigError("QA_AUTH must look like user:password.", help="Example: QA_AUTH=alice:s3cret")
        options["auth"] = (user, password)
        options["auth_message"] = "Sign in to ask the news."
    return options


def launch(qa: QA) -> None:
    """Serve the app at settings.host:settings.port until interrupted."""
    options = launch_options(qa)
    if not _is_loopback(qa.settings.host) and not qa.settings.auth:
        print(
            f"warning: serving on {qa.settings.host} without a login: anyone who can reach this "
            "address can read, add and delete articles. Set QA_AUTH=user:password to require one.",
            file=sys.stderr,
        )
    build_app(qa).launch(**options)
