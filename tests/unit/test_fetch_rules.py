"""The pure rules of qa.ingest.fetch: which addresses are refused and why, which URLs are
fetched at all, and how a Retry-After header is read."""

from __future__ import annotations

import ipaddress
import time
from email.utils import formatdate

import pytest

from qa.ingest.fetch import FetchError, _retry_after, address_problem, check_url, is_url


@pytest.mark.parametrize(
    ("ip", "problem"),
    [
        ("93.184.216.34", None),
        ("2606:4700::6810:85e5", None),
        ("127.0.0.2", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped IPv6 is the IPv4 address
        ("::ffff:10.1.2.3", "a private address"),
        ("10.0.0.5", "a private address"),
        ("172.16.4.4", "a private address"),
        ("192.168.0.1", "a private address"),
        ("fc00::1", "a private address"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("169.254.169.254", "the cloud metadata address"),
        ("fd00:ec2::254", "the cloud metadata address"),
        ("100.100.100.200", "the cloud metadata address"),
        ("224.0.0.1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("240.0.0.1", "a reserved address"),
        ("100.64.0.1", "a non-public address"),  # carrier-grade NAT
        ("192.0.2.1", "a private address"),  # documentation range
    ],
)
def test_address_problems(ip: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(ip)) == problem


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "refused: only http and https URLs are fetched, not ftp"),
        ("file:///etc/passwd", "refused: only http and https URLs are fetched, not file"),
        ("javascript:alert(1)", "refused: only http and https URLs are fetched, not javascript"),
        ("/relative/path", "refused: only http and https URLs are fetched, not a relative URL"),
        ("http://", "not a valid URL: it has no host"),
    ],
)
def test_only_http_urls_with_a_host(url: str, reason: str) -> None:
    with pytest.raises(FetchError) as got:
        check_url(url)
    assert got.value.reason == reason


def test_urls_and_paths_told_apart() -> None:
    assert check_url(" HTTPS://Example.com/a ").host == "example.com"
    assert is_url("https://x.example/a") and is_url("HTTP://x") and not is_url("notes/http.txt")
    assert is_url("ftp://x/y") and not is_url("C:/notes/a.txt")  # refused for its scheme, later


def test_retry_after() -> None:
    assert _retry_after("120") == 120.0
    assert _retry_after(None) is None and _retry_after("soon") is None
    later = _retry_after(formatdate(time.time() + 60, usegmt=True))
    assert later is not None and 50 < later <= 60
    assert _retry_after(formatdate(time.time() - 60, usegmt=True)) == 0.0
