"""Pure render functions: records in, HTML or Markdown out (no Gradio, no QA).

Every piece of article text and metadata, and every file name, goes through `html.escape` (`_e`):
the HTML is built here, never by a Markdown renderer, so an article holding
`<img src=x onerror=...>` or `<script>` reads as text. The Markdown export escapes the same
strings for Markdown (`_md`): no HTML, link, image or code survives from them. Citation
highlights are `<mark>` elements cut from the stored text at each citation's `start`/`end`. The
classes are styled by `assets/app.css`; the chips and buttons are wired by the `assets/*.js`
snippets.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from qa.answer.conversation import Turn
from qa.types import (
    Answer,
    Article,
    ArticleInfo,
    Citation,
    Claim,
    IngestResult,
    StoryCopy,
    Summary,
)

MAX_LIBRARY_ROWS = 500  # rows drawn at once; the filters narrow the rest

# "[1]", "[1, 2]", "[1;3]": the answer's citation markers as the service writes them.
_MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
# Between a claim's words in the answer: spaces and citation markers, in any number.
_GAP = r"(?:\s|\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\])*"


# --- HTML pieces (every outside string goes through _e) ------------------------------------------


def escape(text: object) -> str:
    """Outside text made safe inside HTML (None is empty); every tab's HTML goes through it."""
    return html.escape("" if text is None else str(text), quote=True)


_e = escape


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
        also = _also_html(first.also_reported_by)
        blocks.append(
            f'<div class="qa-src"><div><span class="qa-src-title">{_e(first.title or first.doc_id)}'
            f'</span> <span class="qa-src-meta">{_meta_line(first.source, first.published_at)}'
            f"</span></div><ol>{lines}</ol>{also}</div>"
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


def _also_html(copies: Sequence[StoryCopy]) -> str:
    """'also reported by AFP, France 24' under a cited article: its story's other copies."""
    from qa.stories.copies import also_line

    line = also_line(copies)
    if not line:
        return ""
    tip = "; ".join(f"{c.title or c.doc_id} ({c.doc_id})" for c in copies)
    return f'<div class="qa-also qa-src-meta" title="{_e(tip)}">{_e(line)}</div>'


def _story_note(row: ArticleInfo, story_rows: Mapping[str, Sequence[ArticleInfo]]) -> str:
    """Under a library row: the other copies of its story (qa.stories), if any."""
    others = [r for r in story_rows.get(row.story_id or "", ()) if r.doc_id != row.doc_id]
    if not others:
        return ""
    names = ", ".join(dict.fromkeys(r.source or r.doc_id for r in others))
    return f'<div class="qa-story qa-docid">same story: {_e(names)}</div>'


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
    story_rows: dict[str, list[ArticleInfo]] = {}
    for r in rows:
        if r.story_id:
            story_rows.setdefault(r.story_id, []).append(r)
    # Copies of one story sit together, in the order of the story's first article.
    pos = {r.doc_id: i for i, r in enumerate(shown)}
    first_of: dict[str, int] = {}
    for r in shown:
        if r.story_id:
            first_of.setdefault(r.story_id, pos[r.doc_id])
    shown = sorted(shown, key=lambda r: (first_of.get(r.story_id or "", pos[r.doc_id]), pos[r.doc_id]))
    for r in shown:
        doc = _e(r.doc_id)
        body.append(
            "<tr>"
            f'<td><button type="button" class="qa-link" data-action="read" data-doc="{doc}">'
            f'{_e(r.title or r.doc_id)}</button><div class="qa-docid">{doc}</div>'
            f"{_story_note(r, story_rows)}</td>"
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
        warnings = "".join(f'<div class="qa-warn">warning: {_e(w)}</div>' for w in r.warnings)
        items.append(
            f'<li class="qa-st-{_e(r.status)}"><span class="qa-status">{_e(r.status)}</span>'
            f'<span class="qa-file">{_e(r.path)}</span><div class="qa-why">{detail}</div>{warnings}</li>'
        )
    note_html = f'<div class="qa-note">{_e(note)}</div>' if note else ""
    listing = f'<ul class="qa-results">{"".join(items)}</ul>' if items else ""
    return f'<div class="qa-ingest"><div class="qa-lib-count">{_e(summary)}</div>{note_html}{listing}</div>'


def error_html(message: str) -> str:
    return f'<div class="qa-error">{_e(message)}</div>'


# --- Markdown export ------------------------------------------------------------------------------


# Outside text in the export: HTML's three characters as entities, Markdown's inline syntax
# (links, images, code, emphasis, tables) backslash-escaped, and what would open a block at the
# start of a line (heading, list, setext rule) escaped there.
_MD_INLINE = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", **{c: "\\" + c for c in "\\`*_[]()!|~{}"}}
)
_MD_BLOCK_START = re.compile(r"[#+=-]|\d+\.")


def _md(text: object) -> str:
    """Outside text as inert Markdown on one line (its line breaks become spaces)."""
    line = " ".join(("" if text is None else str(text)).split()).translate(_MD_INLINE)
    opener = _MD_BLOCK_START.match(line)
    if opener is None:
        return line
    at = opener.end() - 1  # before the character that opens the block
    return line[:at] + "\\" + line[at:]


def _cite_md(c: Citation) -> str:
    meta = ", ".join(_md(p) for p in (c.title or c.doc_id, c.source, _day_of(c.published_at)) if p)
    also = ", ".join(dict.fromkeys(_md(x.source or x.doc_id) for x in c.also_reported_by))
    also = f"; also reported by {also}" if also else ""
    return f"[{c.n}] “{_md(c.text)}” — {meta} ({_md(c.doc_id)}, characters {c.start}–{c.end}){also}"


def conversation_markdown(turns: Sequence[Turn]) -> str:
    """The conversation as a Markdown file; every question, answer, title, source and sentence
    in it escaped by `_md`, so that it renders as the text it is in any viewer."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Conversation ({now})", ""]
    for i, t in enumerate(turns, 1):
        a = t.answer
        lines += [f"## {i}. {_md(t.question)}", ""]
        if t.standalone and t.standalone.strip() != t.question.strip():
            lines += [f"_Searched as: {_md(t.standalone)}_", ""]
        lines += ["\n\n".join(_md(p) for p in a.answer.split("\n\n")), ""]
        if a.abstained:
            if a.related:
                lines += ["Closest sentences:", ""] + [f"- {_cite_md(c)}" for c in a.related]
                lines.append("")
            continue
        weak = [c for c in a.claims or [] if c.support != "supported"]
        if weak:
            lines += ["Weakly supported claims:", ""]
            lines += [f"- ({c.support}) {_md(c.text)}" for c in weak] + [""]
        if a.citations:
            lines += ["Sources:", ""] + [f"- {_cite_md(c)}" for c in a.citations] + [""]
    return "\n".join(lines).rstrip() + "\n"


# --- the header, the library's pickers and its delete prompt ---------------------------------------


def header_html(about: Mapping[str, str]) -> str:
    """The page header: what the app runs on (`QA.describe(public=True)`: embedder, model,
    store, without the server's paths)."""
    return (
        '<div class="qa-header"><h1>Ask the news</h1><div class="qa-about">'
        f"Embedder: {_e(about.get('embedder'))} · Model: {_e(about.get('model'))} · "
        f"Store: {_e(about.get('store'))}</div></div>"
    )


def confirm_html(question: str) -> str:
    return f'<div class="qa-confirm">{_e(question)}</div>'


def article_choices(rows: Sequence[ArticleInfo]) -> list[tuple[str, str]]:
    """(label, doc_id) pairs for an article picker: title, then source and day when known."""
    choices = []
    for r in rows:
        label = r.title or r.doc_id
        extra = " · ".join(p for p in (r.source, _day_of(r.published_at)) if p)
        choices.append((f"{label} ({extra})" if extra else label, r.doc_id))
    return choices
