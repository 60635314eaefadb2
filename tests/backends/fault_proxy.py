"""A tiny HTTP proxy on loopback that forwards to an S3 server and spoils the requests it is told to.

Each request takes the next fault of its plan, if any: ``"503"`` answers with an S3 ``SlowDown``
error, ``"drop"`` closes the connection without an answer, ``"cut"`` sends the headers and half of
the real body then closes. Requests after the plan are forwarded untouched. The proxy counts the
requests and the response body bytes it sent, and remembers each request's method and Range.
"""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
SKIPPED_HEADERS = frozenset({"expect", "connection", "keep-alive", "transfer-encoding"})


class FaultProxy(http.server.ThreadingHTTPServer):
    """The proxy server: ``url`` is its address; ``faults`` the plan, consumed one per request."""

    daemon_threads = True

    def __init__(self, upstream: str, faults: list[str]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = urlsplit(upstream)
        self.faults = list(faults)
        self.requests: list[tuple[str, str | None]] = []
        self.bytes_sent = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        """Return the proxy's endpoint URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_fault(self, method: str, byte_range: str | None) -> str | None:
        """Record a request and return its fault, or None to forward it."""
        with self.lock:
            self.requests.append((method, byte_range))
            return self.faults.pop(0) if self.faults else None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultProxy

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet."""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length", 0) or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.server.next_fault(self.command, self.headers.get("Range"))
        if fault == "503":
            self._answer(503, SLOW_DOWN, {"Content-Type": "application/xml"})
            return
        if fault == "drop":
            self.close_connection = True
            self.connection.close()
            return
        status, headers, content = self._forward(body)
        if fault == "cut":
            self._answer(status, content[: len(content) // 2], headers, announced=len(content))
            self.close_connection = True
            self.connection.close()
            return
        self._answer(status, content, headers)

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        upstream = self.server.upstream
        connection = http.client.HTTPConnection(upstream.hostname or "127.0.0.1", upstream.port, timeout=30)
        try:
            headers = {
                key: value for key, value in self.headers.items() if key.lower() not in SKIPPED_HEADERS
            }
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            content = response.read()
            kept = {
                key: value
                for key, value in response.getheaders()
                if key.lower() not in SKIPPED_HEADERS and key.lower() != "content-length"
            }
            return response.status, kept, content
        finally:
            connection.close()

    def _answer(
        self, status: int, content: bytes, headers: dict[str, str], *, announced: int | None = None
    ) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(content) if announced is None else announced))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)
            with self.server.lock:
                self.server.bytes_sent += len(content)
        self.wfile.flush()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


@contextmanager
def fault_proxy(upstream: str, faults: list[str] | None = None) -> Iterator[FaultProxy]:
    """Run a :class:`FaultProxy` to ``upstream`` in a thread while the block runs."""
    proxy = FaultProxy(upstream, faults or [])
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join()
