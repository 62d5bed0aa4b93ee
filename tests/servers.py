"""Real servers on 127.0.0.1 for the storage tests: moto's S3, a fault-injecting proxy, a media host."""

from __future__ import annotations

import http.client
import socket
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The tests drop and stall connections on purpose: a peer that resets is expected there.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FaultProxy:
    """Forwards HTTP to ``upstream``; each queued fault is spent on one request.

    Faults: ("status", 500) answers that status itself, ("drop",) closes the connection without
    an answer, ("slow", seconds) waits before forwarding, ("stall", seconds) waits and then drops.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.faults: deque[tuple] = deque()
        self.requests: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.requests.append(f"{self.command} {self.path}")
                fault = proxy.faults.popleft() if proxy.faults else None
                if fault and fault[0] == "stall":
                    time.sleep(fault[1])  # never answers, never forwards
                    fault = ("drop",)
                if fault and fault[0] == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault and fault[0] == "slow":
                    time.sleep(fault[1])
                if fault and fault[0] == "status":
                    payload = (
                        f"<Error><Code>{'AccessDenied' if fault[1] == 403 else 'InternalError'}</Code>"
                        f"<Message>injected</Message></Error>"
                    ).encode()
                    self.send_response(fault[1])
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "expect")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MediaHost:
    """Serves fixed responses on 127.0.0.1, including the broken ways CDNs serve media."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes, str]] = {}
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer(body=True)

            def do_HEAD(self):
                self._answer(body=False)

            def _answer(self, body: bool):
                status, headers, data, mode = host.routes.get(self.path, (404, {}, b"", "normal"))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if mode == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    if body:
                        for i in range(0, len(data), 4096):
                            piece = data[i : i + 4096]
                            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                        self.wfile.write(b"0\r\n\r\n")
                    return
                if mode == "drip":  # a byte at a time, each well inside any per-read timeout
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    for i in range(len(data) if body else 0):
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                        time.sleep(0.2)
                    return
                if mode == "normal":
                    self.send_header("Content-Length", str(len(data)))
                elif mode.startswith("length="):
                    self.send_header("Content-Length", mode.split("=", 1)[1])
                self.end_headers()
                if body:
                    self.wfile.write(data)
                if mode != "normal":
                    self.close_connection = True

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
