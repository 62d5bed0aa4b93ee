"""Fetching a media URL the way a provider does, and saying whether the provider will take it.

Sinch (seed 002) rejects a response without Content-Length, a chunked one, and one typed
application/octet-stream. This check GETs (and HEADs) the URL and reports: the status, whether
Content-Length is there and equals the bytes received, chunked transfer, whether Content-Type agrees
with what the bytes are, and the size against a limit. HEAD's status is reported too, but only the
GET decides: it is what the providers send.

The host is resolved first and the connection is pinned to an address that was checked: loopback,
private, link-local and reserved addresses are refused unless allowed (a URL pointing inside the
network is how an upload flow gets turned against it). Redirects are not followed: a provider's
fetcher may not follow them either, so one is reported.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import UrlRefused, UrlUnreachable, UsageError
from ..inspection.sniff import kind_of, same_type, sniff_mime
from ..profiles import Profile, load_profile
from ..settings import Settings, resolved_settings


@dataclass(frozen=True)
class UrlProblem:
    code: str
    message: str


@dataclass(frozen=True)
class UrlReport:
    url: str
    status: int
    content_length: int | None
    received_bytes: int
    content_type: str | None
    sniffed_mime: str | None
    chunked: bool
    head_status: int | None
    problems: tuple[UrlProblem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


def verify_url(
    url: str,
    *,
    max_bytes: int | None = None,
    expect_mime: str | None = None,
    profile: Profile | str | None = None,
    settings: Settings | None = None,
) -> UrlReport:
    """Fetch ``url`` as a provider would; ``profile`` adds its size limit and type rules for the content."""
    settings = resolved_settings(settings)
    if not isinstance(url, str):
        raise UsageError(f"a URL is a str, not {type(url).__name__}")
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0):
        raise UsageError(f"max_bytes must be a positive whole number of bytes, not {max_bytes!r}")
    if expect_mime is not None and not isinstance(expect_mime, str):
        raise UsageError(f"expect_mime is a type such as image/jpeg, not {expect_mime!r}")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:  # an unclosed [IPv6] bracket, a port out of range
        raise UrlRefused(f"{url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefused(f"{url!r} is not an http(s) URL")
    address = _checked_address(parts.hostname, port, settings.allow_private_urls)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    cap = max_bytes if max_bytes is not None else settings.max_input_bytes

    head = _request("HEAD", parts.scheme, parts.hostname, address, port, path, settings, cap)
    got = _request("GET", parts.scheme, parts.hostname, address, port, path, settings, cap)
    status, headers, body, truncated = got
    problems: list[UrlProblem] = []
    length_header = headers.get("content-length")
    content_length = int(length_header) if length_header and length_header.isdigit() else None
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    content_type = headers.get("content-type")
    mime = content_type.split(";")[0].strip().lower() if content_type else None
    sniffed = sniff_mime(body) if body else None

    if status != 200:
        what = "a redirect, which is not followed" if 300 <= status < 400 else "not 200"
        problem = UrlProblem("url.status", f"GET answered {status}: {what}")
        return UrlReport(url, status, content_length, len(body), content_type, sniffed, chunked, head[0], (problem,))
    if chunked:
        problems.append(UrlProblem("url.chunked", "the body is sent chunked; Sinch rejects chunked transfer"))
    if content_length is None:
        problems.append(UrlProblem("url.no_length", "no Content-Length header; Sinch rejects the fetch without it"))
    elif not truncated and content_length != len(body):
        problems.append(
            UrlProblem("url.length_mismatch", f"Content-Length says {content_length} but {len(body)} bytes came")
        )
    if mime is None:
        problems.append(UrlProblem("url.no_type", "no Content-Type header"))
    elif mime == "application/octet-stream":
        problems.append(UrlProblem("url.octet_stream", "Content-Type is application/octet-stream; give the true type"))
    elif sniffed and not same_type(mime, sniffed):
        problems.append(UrlProblem("url.type_mismatch", f"Content-Type says {mime} but the bytes are {sniffed}"))
    if expect_mime and sniffed and not same_type(expect_mime, sniffed):
        problems.append(UrlProblem("url.unexpected_content", f"expected {expect_mime}, got {sniffed}"))
    size = content_length if content_length is not None else len(body)
    if profile is not None and sniffed:
        resolved = load_profile(profile, settings)
        kind = kind_of(sniffed)
        rule = resolved.rule_for(kind)
        if resolved.verdict(kind, sniffed) != "accept":
            problems.append(UrlProblem("url.not_accepted", f"{resolved.name} does not take {sniffed} as it is"))
        if rule is not None and rule.max_bytes is not None and size > rule.max_bytes:
            problems.append(
                UrlProblem("url.too_big", f"{size} bytes is over {resolved.name}'s {rule.max_bytes} byte {kind} limit")
            )
    if truncated or (max_bytes is not None and size > max_bytes):
        problems.append(UrlProblem("url.too_big", f"{size} bytes is over the {cap} byte limit"))
    return UrlReport(url, status, content_length, len(body), content_type, sniffed, chunked, head[0], tuple(problems))


def _checked_address(host: str, port: int, allow_private: bool) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UrlUnreachable(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if _inside(ip) and not allow_private:
            raise UrlRefused(
                f"{host} resolves to {ip}, an address inside the network; refused (allow_private_urls to test locally)"
            )
    return str(infos[0][4][0])


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _inside(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address may lead inside a network: anything not globally routable (private,
    loopback, link-local, and the shared space 100.64/10, where Alibaba Cloud's metadata service
    is), multicast, and an IPv6 address that carries such an IPv4 one (mapped, 6to4, NAT64)."""
    if isinstance(ip, ipaddress.IPv6Address):
        carried = ip.ipv4_mapped or ip.sixtofour
        if carried is None and ip in _NAT64:
            carried = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if carried is not None:  # what the packets reach: on NAT64 networks every IPv4 host looks so
            return _inside(carried)
    return not ip.is_global or ip.is_multicast or ip.is_loopback or ip.is_reserved


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, address: str, hostname: str, port: int, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(hostname, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        # Connect to the address that was checked, but verify the certificate for the host name.
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, address: str, hostname: str, port: int, timeout: float) -> None:
        super().__init__(hostname, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def _request(method, scheme, host, address, port, path, settings, cap) -> tuple[int, dict[str, str], bytes, bool]:
    cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    conn = cls(address, host, port, settings.url_timeout)
    # A server that drips bytes never trips a per-read timeout: the whole request gets one deadline,
    # after which its socket is shut, which ends any read blocked on it.
    deadline = _Deadline(conn, settings.url_timeout)
    late = UrlUnreachable(f"{method} {host}: no complete answer within {settings.url_timeout:g} s")
    try:
        conn.request(method, path, headers={"User-Agent": "mediaprep-verify-url", "Accept": "*/*"})
        resp = conn.getresponse()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        try:
            body = b"" if method == "HEAD" else resp.read(cap + 1)
        except http.client.IncompleteRead as short:
            body = short.partial  # fewer bytes than Content-Length promised: reported as a mismatch
        if deadline.passed:
            raise late
        return resp.status, headers, body[:cap], len(body) > cap
    except (TimeoutError, socket.timeout) as exc:
        raise UrlUnreachable(f"{method} {host}: no answer within {settings.url_timeout:g} s ({exc})") from None
    except (OSError, http.client.HTTPException) as exc:
        if deadline.passed:
            raise late from None
        raise UrlUnreachable(f"{method} {host}: {type(exc).__name__}: {exc}") from None
    finally:
        deadline.cancel()
        conn.close()


class _Deadline:
    def __init__(self, conn: http.client.HTTPConnection, seconds: float) -> None:
        self.conn = conn
        self.passed = False
        self.timer = threading.Timer(seconds, self._cut)
        self.timer.daemon = True
        self.timer.start()

    def _cut(self) -> None:
        self.passed = True
        try:
            if self.conn.sock is not None:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed

    def cancel(self) -> None:
        self.timer.cancel()
