"""A small news site on loopback for the fetch and feed tests: a threaded http.server on
127.0.0.1, port 0, serving pages and feeds the test sets (and may change between fetches),
with conditional GET, delays, redirects, status sequences and huge streamed bodies; it records
every request it saw and how many bytes it sent per path.

    with NewsServer() as site:
        site.route("/a", Reply(page("Title", ["First paragraph.", ...])))
        site.url("/a")        # http://127.0.0.1:PORT/a
        site.requests         # [Seen(path, headers), ...]
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass, field
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Reply:
    """One response: `body` (or `size` bytes of filler streamed in 64 KiB pieces), a status,
    headers; with `etag` / `last_modified`, a matching conditional request gets a 304."""

    body: bytes | str = b""
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    size: int | None = None
    content_length: bool = True


class _Quiet(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up: expected
            super().handle_error(request, client_address)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class NewsServer:
    """The server; a context manager that starts it in a thread and stops it."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[Seen] = []
        self.sent: dict[str, int] = {}
        self._lock = threading.Lock()
        self._httpd = _Quiet(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> NewsServer:
        from qa.ingest.fetch import ROBOTS_CACHE

        # qa keeps each host's robots.txt for an hour; a new server on a port an earlier test's
        # server had must not inherit its rules.
        ROBOTS_CACHE.clear()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def route(self, path: str, *replies: Reply) -> None:
        """Serve `replies` at `path` in turn; the last one repeats."""
        with self._lock:
            self.routes[path] = list(replies)

    def hits(self, path: str) -> list[Seen]:
        return [s for s in self.requests if s.path == path]

    def _next(self, path: str) -> Reply | None:
        with self._lock:
            replies = self.routes.get(path) or self.routes.get(path.split("?", 1)[0])
            if not replies:
                return None
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                with server._lock:
                    server.requests.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
                reply = server._next(self.path)
                if reply is None:
                    return self._send(Reply(b"not here", status=404, content_type="text/plain"))
                if reply.delay:
                    time.sleep(reply.delay)
                if (reply.etag and self.headers.get("If-None-Match") == reply.etag) or (
                    reply.last_modified and self.headers.get("If-Modified-Since") == reply.last_modified
                ):
                    return self._send(Reply(b"", status=304, content_type=None, etag=reply.etag))
                return self._send(reply)

            def _send(self, reply: Reply) -> None:
                body = reply.body.encode() if isinstance(reply.body, str) else reply.body
                self.send_response(reply.status)
                if reply.content_type:
                    self.send_header("Content-Type", reply.content_type)
                if reply.etag:
                    self.send_header("ETag", reply.etag)
                if reply.last_modified:
                    self.send_header("Last-Modified", reply.last_modified)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                size = reply.size if reply.size is not None else len(body)
                if reply.status == 304:
                    self.end_headers()
                    return
                if reply.content_length:
                    self.send_header("Content-Length", str(size))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                try:
                    if reply.size is None:
                        self.wfile.write(body)
                        self._count(len(body))
                        return
                    piece = b"x" * 65536
                    left = reply.size
                    while left > 0:
                        n = min(left, len(piece))
                        self.wfile.write(piece[:n])
                        self._count(n)
                        left -= n
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client stopped reading: what the cap does

            def _count(self, n: int) -> None:
                with server._lock:
                    server.sent[self.path] = server.sent.get(self.path, 0) + n

        return Handler


def page(
    title: str,
    paragraphs: list[str],
    *,
    published: str | None = None,
    canonical: str | None = None,
    author: str | None = None,
) -> str:
    """A news page: navigation, the article (title, optional date and author), related links
    and a footer around it, as a real site wraps its articles."""
    meta = ""
    if published:
        meta += f'<meta property="article:published_time" content="{escape(published)}">'
    if canonical:
        meta += f'<link rel="canonical" href="{escape(canonical)}">'
    if author:
        meta += f'<meta name="author" content="{escape(author)}">'
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"{meta}</head><body>"
        "<nav><ul><li><a href='/'>Home</a></li><li><a href='/world'>World</a></li>"
        "<li><a href='/sport'>Sport</a></li></ul></nav>"
        f"<main><article><h1>{escape(title)}</h1>{body}</article></main>"
        "<aside><h2>Related stories</h2><ul><li><a href='/x'>Something else entirely</a></li></ul></aside>"
        "<footer><p>Copyright The Loopback Times. All rights reserved.</p></footer>"
        "</body></html>"
    )


def rss(title: str, items: list[tuple[str, str, str | None]], *, link: str = "/") -> str:
    """An RSS 2.0 feed of (title, link, RFC 822 date or None) items; links may be relative."""
    entries = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(href)}</link><guid>{escape(href)}</guid>"
        + (f"<pubDate>{escape(d)}</pubDate>" if d else "")
        + "</item>"
        for t, href, d in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link><description>news</description>"
        f"{entries}</channel></rss>"
    )


def atom(title: str, items: list[tuple[str, str, str | None]], *, base: str | None = None) -> str:
    """An Atom feed of (title, href, ISO date or None) items; hrefs may be relative (to `base`
    when given as xml:base, else to the feed's URL)."""
    xml_base = f' xml:base="{escape(base)}"' if base else ""
    entries = "".join(
        f"<entry><title>{escape(t)}</title><link rel='alternate' href='{escape(href)}'/>"
        f"<id>urn:qa-test:{escape(href)}</id>"
        + (f"<updated>{escape(d)}</updated><published>{escape(d)}</published>" if d else "")
        + "</entry>"
        for t, href, d in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{xml_base}>'
        f"<title>{escape(title)}</title><id>urn:qa-test:feed</id><updated>2024-03-01T00:00:00Z</updated>"
        f"{entries}</feed>"
    )


def http_date(epoch: float) -> str:
    from datetime import UTC, datetime

    return format_datetime(datetime.fromtimestamp(epoch, UTC), usegmt=True)


RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"


def tls_contexts(tmp: Path, hostname: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate for `hostname` signed by a throwaway CA: (the server's context, a client
    context that trusts only that CA)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def cert(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = x509.SubjectAlternativeName([x509.DNSName(subject)])
            builder = builder.add_extension(names, critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = cert("qa test CA", ca_key, "qa test CA", ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = cert(hostname, key, "qa test CA", ca_key, False)
    pem = serialization.Encoding.PEM
    (tmp / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp / "key.pem").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp / "leaf.pem", tmp / "key.pem")
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return server, client
