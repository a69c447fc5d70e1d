"""Polite, safe fetching of web pages and feeds over HTTP(S), with httpx.

    with Fetcher(settings) as fetcher:
        got = fetcher.fetch("https://example.com/news/1")       # a Fetched, never an exception
        got.ok, got.reason, got.final_url, got.body

Polite: a User-Agent naming qa, robots.txt honoured (cached per host), a delay between two
requests to the same host, conditional GET (ETag / Last-Modified: an unchanged feed costs one
304), retries with backoff on 429 and 5xx honouring Retry-After (capped).

Safe: only http and https; every host is resolved and refused when any of its addresses is
loopback, private, link-local, multicast, reserved, unspecified or a cloud metadata address
(unless the settings allow private addresses); the connection is then made to the address that
was checked (`_PinnedTransport`), so a DNS answer that changes between the check and the
connection (DNS rebinding) cannot slip a private address in. Redirects are followed by hand,
capped, and each target goes through the same checks. Responses are streamed and dropped at the
size cap, and the content type must be a web page (or a feed).

Every failure is a `Fetched` with a reason a user understands (`HTTP 404 Not Found`,
`timed out after 10 s`, `larger than 5 MB`, `refused: resolves to a private address 10.0.0.5`).
"""

from __future__ import annotations

import concurrent.futures
import email.utils
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
import urllib.robotparser
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import httpx

from qa.errors import InputError
from qa.settings import Settings

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from qa.types import Article, IngestResult

__all__ = [
    "Fetched",
    "Fetcher",
    "address_problem",
    "check_url",
    "fetch_articles",
    "is_url",
    "user_agent",
]

Kind = Literal["page", "feed", "robots"]

PAGE_TYPES = ("text/html", "application/xhtml+xml")
# feedparser reads RSS, RDF, Atom (any XML) and JSON Feed.
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
    "application/feed+json",
    "application/json",
)
VAGUE_TYPES = ("", "text/plain", "application/octet-stream")
REDIRECTS = (301, 302, 303, 307, 308)
ROBOTS_MAX_BYTES = 500_000  # RFC 9309 asks crawlers to read at least 500 KiB
ROBOTS_TTL = 3600.0  # seconds a host's robots.txt is trusted (in one long-running process)
AGENT_TOKEN = "qa"  # the name robots.txt rules address
CLOSED = "the site is treated as closed to crawlers until it answers (RFC 9309)"

# Cloud instance metadata endpoints (AWS, GCP, Azure: 169.254.169.254; AWS IPv6: fd00:ec2::254;
# Alibaba: 100.100.100.200): they hand out credentials, so they stay refused even when private
# addresses are allowed.
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


# Each host's parsed robots.txt, shared by every Fetcher of the process (a feed refresh, a web
# request, the scheduler) so that a refresh of an unchanged feed costs one request, not two;
# origin -> (when read, rules). Only rules are kept: a host that could not answer is asked again.
ROBOTS_CACHE: dict[str, tuple[float, urllib.robotparser.RobotFileParser]] = {}
_ROBOTS_LOCK = threading.Lock()


_RESOLVER = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="qa-dns")


class FetchError(Exception):
    """Why one URL could not be fetched; becomes a failed `Fetched`, never reaches a user raw."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Refused(FetchError):
    """The URL points where qa does not go (a scheme, an address)."""


class Unreachable(FetchError):
    """The host did not answer: no address, no connection, too slow, a broken response."""


@dataclass
class Fetched:
    """The outcome of fetching one URL: `ok` (body read), `not_modified` (a 304 to a
    conditional GET) or `failed` (with `reason`)."""

    url: str
    status: Literal["ok", "not_modified", "failed"]
    reason: str = ""
    final_url: str = ""
    body: bytes = b""
    content_type: str = ""
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    http_status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def text(self) -> str | bytes:
        """The body as text when the server named a charset Python knows, else the bytes (for
        the reader to find the encoding in the page itself)."""
        if self.charset:
            try:
                return self.body.decode(self.charset, errors="replace")
            except LookupError:
                pass
        return self.body


def user_agent(settings: Settings) -> str:
    """`qa/<version> (+contact)`: who is fetching, and how a site owner reaches them."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("qa")
    except PackageNotFoundError:  # run from a source tree that was never installed
        v = "0"
    contact = settings.fetch_contact.strip()
    return f"qa/{v} (+{contact})" if contact else f"qa/{v} (news reader; question answering)"


def is_url(text: str) -> bool:
    """Whether a command-line argument is meant as a URL rather than a path: anything that
    starts with a scheme and "://" (so `ftp://host/x` is refused for its scheme, not reported as
    a missing file)."""
    return re.match(r"[a-z][a-z0-9+.-]*://", text.strip().lower()) is not None


def check_url(url: str) -> httpx.URL:
    """`url` parsed; Refused unless it is an absolute http(s) URL with a host."""
    raw = (url or "").strip()
    try:
        parsed = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise Refused(f"not a valid URL: {exc}") from None
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https"):
        shown = scheme or "a relative URL"
        raise Refused(f"refused: only http and https URLs are fetched, not {shown}")
    if not parsed.host:
        raise Refused("not a valid URL: it has no host")
    return parsed


def address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What is wrong with connecting to `ip` from a server ("a private address"), or None for
    a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if ip in METADATA:
        return "the cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:  # before is_private, which counts 240.0.0.0/4 too
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:  # shared (100.64/10), documentation ranges and other special uses
        return "a non-public address"
    return None


class _PinnedTransport(httpx.BaseTransport):
    """An httpx transport that resolves each request's host itself, refuses it when any of its
    addresses is not allowed, and connects to a checked address: the URL's host is replaced by
    the address, while the Host header and TLS (SNI and certificate check) keep the name.

    httpx (httpcore) would otherwise resolve the name again when it connects, and a DNS server
    under an attacker's control could answer with a public address for the check and a private
    one for the connection. No maintained library does this pinning for a sync httpx client
    (gradio's safehttpx does it for async GETs only), so it is written here.

    Each host name gets its own connection pool, so that a kept-alive connection made (and its
    certificate checked) for one name is never reused for another name on the same address.
    """

    def __init__(
        self,
        allowed: Callable[[str, Any], str | None],
        verify: ssl.SSLContext | bool = True,
        resolve_timeout: float = 10.0,
    ) -> None:
        self._allowed = allowed  # (host, ip) -> refusal reason or None
        self._verify = verify
        self._resolve_timeout = resolve_timeout
        self._pools: dict[str, httpx.HTTPTransport] = {}
        self._lock = threading.Lock()

    def addresses(self, host: str, port: int) -> list[str]:
        # getaddrinfo has no timeout of its own: it runs in a thread that is waited for at most
        # the fetch timeout (a stuck lookup then finishes, unused, in the background).
        lookup = _RESOLVER.submit(lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        try:
            infos = lookup.result(timeout=self._resolve_timeout)
        except concurrent.futures.TimeoutError:
            waited = _seconds(self._resolve_timeout)
            raise Unreachable(f"timed out resolving the host {host} after {waited}") from None
        except (socket.gaierror, UnicodeError, OSError):
            raise Unreachable(f"could not resolve the host {host}") from None
        ips: list[str] = []
        for family, _, _, _, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            ip = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone index
            if ip not in ips:
                ips.append(ip)
        if not ips:
            raise Unreachable(f"could not resolve the host {host}")
        for ip in ips:  # refused if ANY address is bad: the system may pick any of them
            problem = self._allowed(host, ipaddress.ip_address(ip))
            if problem:
                said = f"{host} is {problem}" if host == ip else f"{host} resolves to {problem} {ip}"
                raise Refused(f"refused: {said}")
        return ips

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.raw_host.decode("ascii")
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        ips = self.addresses(host, port)
        with self._lock:
            pool = self._pools.get(host)
            if pool is None:
                # trust_env=False: a proxy from the environment would do its own resolving.
                pool = self._pools[host] = httpx.HTTPTransport(verify=self._verify, trust_env=False)
        original = request.url
        last: httpx.ConnectError | None = None
        for ip in ips:  # the next checked address when one does not answer (IPv6 unreachable)
            request.url = original.copy_with(host=ip)
            request.extensions = {**request.extensions, "sni_hostname": host}
            try:
                return pool.handle_request(request)
            except httpx.ConnectError as exc:
                last = exc
            finally:
                request.url = original
        assert last is not None
        raise last

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


def _mb(n: int) -> str:
    return f"{n / 1_000_000:g} MB"


def _seconds(s: float) -> str:
    return f"{s:g} s"


def _retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _connect_reason(exc: httpx.HTTPError, host: str) -> str:
    text = str(exc) or type(exc).__name__
    low = text.lower()
    if "refused" in low:
        return f"could not connect to {host}: connection refused"
    if "certificate" in low or "ssl" in low:
        return f"TLS error with {host}: {text}"
    return f"could not connect to {host}: {text}"


class Fetcher:
    """Fetches pages and feeds under the settings' limits; thread-safe; close it (or use it as
    a context manager) to release its connections.

    `sleep` is injectable so that a test can see the waits without waiting them; `verify` is
    httpx's: True (the system's CAs, via certifi) or an SSLContext (a test's own CA).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self.user_agent = user_agent(settings)
        self._private_hosts = {
            h.strip().lower() for h in settings.allow_private_hosts.split(",") if h.strip()
        }
        t = settings.fetch_timeout
        self._transport = _PinnedTransport(self._address_allowed, verify, resolve_timeout=t)
        self._client = httpx.Client(
            transport=self._transport,
            timeout=httpx.Timeout(t),
            follow_redirects=False,  # followed by hand: each target is checked (see `fetch`)
            trust_env=False,
            headers={"User-Agent": self.user_agent},
        )
        self._lock = threading.Lock()
        self._next_at: dict[str, float] = {}  # host -> when its next request may start
        self._robots = ROBOTS_CACHE
        self.requests = 0  # requests sent (tests and reports read it)

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # --- safety --------------------------------------------------------------------------
    def _address_allowed(self, host: str, ip: Any) -> str | None:
        problem = address_problem(ip)
        if problem is None or problem == "the cloud metadata address":
            return problem
        if self.settings.allow_private_urls or host.lower() in self._private_hosts:
            return None
        return problem

    # --- the public call -----------------------------------------------------------------
    def fetch(
        self,
        url: str,
        kind: Kind = "page",
        *,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> Fetched:
        """GET `url` (a page or a feed), following redirects; never raises for a bad URL or a
        bad server: the result says what happened."""
        hops: list[str] = [url]
        try:
            return self._fetch(url, kind, etag, last_modified, on_hop=hops.append)
        except FetchError as exc:
            return Fetched(url=url, status="failed", reason=exc.reason, final_url=hops[-1])

    def _fetch(
        self,
        url: str,
        kind: Kind,
        etag: str | None,
        last_modified: str | None,
        on_hop: Callable[[str], None],
    ) -> Fetched:
        current = check_url(url)
        seen = {str(current)}
        loop = False
        for hop in range(self.settings.fetch_max_redirects + 1):
            try:
                got = self._hop(current, kind, etag, last_modified, url)
            except Refused as exc:  # an address, through a redirect: say so
                raise Refused(f"redirected to {current}: {exc.reason}" if hop else exc.reason) from None
            if got.http_status not in REDIRECTS:
                return got
            location = got.headers.get("location", "").strip()
            if not location:
                raise FetchError(f"HTTP {got.http_status} redirect without a Location")
            try:
                target = current.join(location)
            except (httpx.InvalidURL, ValueError):
                raise FetchError(f"redirected to an invalid URL: {location[:200]}") from None
            try:
                target = check_url(str(target))
            except Refused as exc:
                raise Refused(f"redirected to {location[:200]}: {exc.reason}") from None
            loop = loop or str(target) in seen
            seen.add(str(target))
            current = target
            on_hop(str(current))
        more = f"more than {self.settings.fetch_max_redirects} redirects"
        raise FetchError(f"{more} (a redirect loop)" if loop else more)

    def _hop(
        self, url: httpx.URL, kind: Kind, etag: str | None, last_modified: str | None, original: str
    ) -> Fetched:
        if kind != "robots":
            self._check_robots(url)
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return self._get(url, kind, headers, original)

    # --- one request, with retries -------------------------------------------------------
    def _get(self, url: httpx.URL, kind: Kind, headers: dict[str, str], original: str) -> Fetched:
        s = self.settings
        tries = s.fetch_retries + 1
        for attempt in range(tries):
            self._wait_turn(url)
            got = self._request(url, kind, headers, original)
            code = got.http_status or 0
            if code == 429 or 500 <= code <= 599:
                phrase = got.reason
                asked = _retry_after(got.headers.get("retry-after"))
                if asked is not None and asked > s.fetch_max_wait:
                    raise FetchError(
                        f"{phrase}; the server asks to retry after {asked:.0f} s, longer than "
                        f"the {_seconds(s.fetch_max_wait)} qa waits"
                    )
                if attempt + 1 < tries:
                    wait = asked if asked is not None else s.fetch_backoff * (2**attempt)
                    self._sleep(min(wait, s.fetch_max_wait))
                    continue
                raise FetchError(f"{phrase} (after {tries} tries)" if tries > 1 else phrase)
            return got
        raise AssertionError("unreachable")

    def _request(self, url: httpx.URL, kind: Kind, headers: dict[str, str], original: str) -> Fetched:
        s = self.settings
        cap = ROBOTS_MAX_BYTES if kind == "robots" else s.fetch_max_bytes
        host = url.host
        deadline = time.monotonic() + 3 * s.fetch_timeout
        self.requests += 1
        try:
            with self._client.stream("GET", url, headers=headers) as r:
                got = Fetched(
                    url=original,
                    status="ok",
                    final_url=str(url),
                    http_status=r.status_code,
                    headers={k.lower(): v for k, v in r.headers.items()},
                    etag=r.headers.get("etag"),
                    last_modified=r.headers.get("last-modified"),
                )
                if r.status_code == 304:
                    got.status = "not_modified"
                    return got
                if r.status_code in REDIRECTS:
                    return got
                if r.status_code >= 400 or r.status_code < 200:
                    got.status = "failed"
                    phrase = r.reason_phrase or ""
                    got.reason = f"HTTP {r.status_code} {phrase}".strip()
                    return got
                ctype, _, params = r.headers.get("content-type", "").partition(";")
                got.content_type = ctype.strip().lower()
                got.charset = _charset(params)
                sniff = kind != "robots" and not _check_type(got.content_type, kind)
                length = r.headers.get("content-length", "")
                if length.isdigit() and int(length) > cap:
                    raise FetchError(f"larger than {_mb(cap)} ({_mb(int(length))})")
                body = bytearray()
                for piece in r.iter_bytes():  # decoded: a gzip bomb is capped on what it inflates to
                    body += piece
                    if len(body) > cap:
                        raise FetchError(f"larger than {_mb(cap)}")
                    if time.monotonic() > deadline:
                        whole = _seconds(3 * s.fetch_timeout)
                        raise Unreachable(f"timed out after {whole} (the whole response)")
                got.body = bytes(body)
                if sniff and not _looks_like(got.body, kind):
                    _refuse_type(got.content_type, kind)
                return got
        except FetchError:
            raise
        except httpx.TimeoutException:
            raise Unreachable(f"timed out after {_seconds(s.fetch_timeout)}") from None
        except httpx.ConnectError as exc:
            raise Unreachable(_connect_reason(exc, host)) from None
        except httpx.RemoteProtocolError:
            raise Unreachable(f"{host} closed the connection without a complete response") from None
        except httpx.HTTPError as exc:
            raise Unreachable(f"could not fetch from {host}: {exc or type(exc).__name__}") from None

    # --- politeness ----------------------------------------------------------------------
    def _wait_turn(self, url: httpx.URL) -> None:
        """Sleep until this host's next request may start, and book the slot after it."""
        key = url.host.lower()
        delay = max(self.settings.fetch_host_delay, self._crawl_delay(url))
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_at.get(key, now))
            self._next_at[key] = start + delay
        if start > now:
            self._sleep(start - now)

    def _crawl_delay(self, url: httpx.URL) -> float:
        cached = self._robots.get(_origin(url))
        if cached is None:
            return 0.0
        try:
            asked = cached[1].crawl_delay(AGENT_TOKEN)
        except (TypeError, ValueError):
            return 0.0
        return min(float(asked or 0), self.settings.fetch_max_wait)

    def _check_robots(self, url: httpx.URL) -> None:
        if not self.settings.fetch_robots:
            return
        rules = self._robots_for(url)
        if isinstance(rules, str):
            raise FetchError(rules)
        if not rules.can_fetch(self.user_agent, str(url)):  # rules for "qa" (or "*") apply
            raise FetchError("disallowed by robots.txt")

    def _robots_for(self, url: httpx.URL) -> urllib.robotparser.RobotFileParser | str:
        """The host's parsed robots.txt, or why the host is closed to qa (a str)."""
        key = _origin(url)
        with _ROBOTS_LOCK:
            cached = self._robots.get(key)
        if cached is not None and time.monotonic() - cached[0] < ROBOTS_TTL:
            return cached[1]
        robots_url = url.copy_with(path="/robots.txt", query=None, fragment=None)
        # RFC 9309: robots.txt may redirect (followed, checked like any URL); 4xx means no
        # rules; 5xx or no answer means "assume everything is disallowed" for now.
        try:
            got = self._fetch(str(robots_url), "robots", None, None, on_hop=lambda u: None)
        except (Refused, Unreachable):  # the page's own error, not a robots.txt one
            raise
        except FetchError as exc:
            if exc.reason.startswith("HTTP 5"):
                return f"robots.txt could not be read ({exc.reason}); {CLOSED}"
            return f"robots.txt could not be read: {exc.reason}"
        rules = urllib.robotparser.RobotFileParser(str(robots_url))
        code = got.http_status or 0
        if got.ok:
            text = got.body.decode("utf-8", errors="replace")
            rules.parse(text.splitlines())
        elif 400 <= code < 500:
            rules.parse([])  # RFC 9309: an unavailable robots.txt (4xx) means no rules
        else:
            return f"robots.txt could not be read ({got.reason}); {CLOSED}"
        with _ROBOTS_LOCK:
            self._robots[key] = (time.monotonic(), rules)
        return rules


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.host.lower()}:{url.port or ''}"


def _charset(params: str) -> str | None:
    for part in params.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _check_type(content_type: str, kind: Kind) -> bool:
    """True when the content type is one `kind` wants; False when it is a vague one (none,
    text/plain, octet-stream: servers label feeds so) and the body must be looked at; a
    FetchError for any other."""
    wanted = PAGE_TYPES if kind == "page" else FEED_TYPES
    if content_type in wanted or (kind == "feed" and content_type.endswith(("+xml", "/xml"))):
        return True
    if content_type in VAGUE_TYPES:
        return False
    _refuse_type(content_type, kind)
    return False


def _looks_like(body: bytes, kind: Kind) -> bool:
    """Whether a body with a vague content type starts like an HTML page, or a feed."""
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if kind == "page":
        return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head
    return head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf:rdf", b"{"))


def _refuse_type(content_type: str, kind: Kind) -> None:
    shown = content_type or "no content type"
    if kind == "page":
        raise FetchError(f"not a web page ({shown})")
    raise FetchError(f"not a feed ({shown})")


def fetch_articles(
    fetcher: Fetcher,
    urls: Iterable[str],
    fallback_dates: Mapping[str, str | None] | None = None,
    on_url: Callable[[int, str], None] | None = None,
) -> tuple[list[tuple[str, Article]], list[IngestResult]]:
    """Fetch each URL and read its article (qa.ingest.web): (url, article) pairs for the
    indexer, and a failed result for each URL that could not be fetched or read. The doc id
    comes from the page's canonical URL, else the URL it was finally fetched from."""
    from qa.ingest.readers import finish
    from qa.ingest.web import extract_page
    from qa.types import IngestResult

    articles: list[tuple[str, Article]] = []
    failed: list[IngestResult] = []
    for i, url in enumerate(urls):
        if on_url:
            on_url(i, url)
        got = fetcher.fetch(url, "page")
        if not got.ok:
            failed.append(IngestResult(path=url, status="failed", reason=got.reason))
            continue
        date = (fallback_dates or {}).get(url)
        try:
            article = finish(extract_page(got.text(), url=got.final_url, fallback_date=date))
        except InputError as exc:
            failed.append(IngestResult(path=url, status="failed", reason=_without_name(str(exc), got)))
            continue
        except Exception as exc:  # noqa: BLE001 - a page that trips the extractor is one bad URL
            logger.exception("reading the page %s failed", url)
            reason = f"could not read the page ({type(exc).__name__}; see the log)"
            failed.append(IngestResult(path=url, status="failed", reason=reason))
            continue
        articles.append((url, article))
    return articles, failed


def _without_name(reason: str, got: Fetched) -> str:
    """The extractor names the page in its messages; the result already names the URL."""
    for name in (got.final_url, got.url):
        if name and reason.startswith(f"{name}: "):
            return reason[len(name) + 2 :]
    return reason
