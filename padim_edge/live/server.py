"""The live server: the page, its event stream and images, /metrics, /healthz and /readyz.

The standard library's ThreadingHTTPServer: a thread per connection is all a handful of viewers and a
scraper need, it adds no dependency to the runtime, and every handler runs outside the pipeline's
threads, so a viewer can slow only its own connection. Nothing is served from the disk: the page is a
constant and the images are this run's, held in memory; any other path is 404.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from padim_edge.errors import UserError
from padim_edge.live.address import parse_address
from padim_edge.live.page import CONTENT_SECURITY_POLICY, PAGE
from padim_edge.live.view import RunView

TOKEN_VARIABLE = "PADIM_EDGE_HTTP_TOKEN"
TOKEN_COOKIE = "padim_edge_token"
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~+/=-]+$")  # safe in a header and in a cookie, unquoted
EVENT_INTERVAL_S = 0.2  # at most 5 page updates a second per viewer
EVENT_REFRESH_S = 1.0  # and at least one a second (rate, queue depth and outages change without results)
WRITE_TIMEOUT_S = 30.0  # a viewer that reads nothing for this long is disconnected
_REJECT = re.compile(r"^/ng/(\d{1,12})(_thumb)?\.jpg$")
OPEN_PATHS = ("/healthz", "/readyz")  # for supervisors: no token, and they say nothing but ok or why not


def http_token() -> str:
    """The bearer token from PADIM_EDGE_HTTP_TOKEN; '' when unset (no token asked)."""
    token = os.environ.get(TOKEN_VARIABLE, "")
    if token and not _TOKEN_CHARS.match(token):
        raise UserError(f"{TOKEN_VARIABLE}: use only letters, digits and . _ ~ + / = -")
    return token


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily) -> None:
        self.address_family = family  # IPv4 or IPv6, as the address is; read when the socket is made
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer's own server_bind looks the host name up (socket.getfqdn), which can stall offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


class LiveServer:
    """Listens at once (so a bad address or a port in use fails before the model loads) and serves from a
    thread; until `show(view)` the page waits and /readyz says the model is not loaded."""

    def __init__(self, address: str, token: str = "", log: Callable[[str], None] = print) -> None:
        host, port = parse_address(address)
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        except socket.gaierror:
            raise UserError(f"--http {address}: unknown host {host!r}") from None
        try:
            self.httpd = _Server((host, port), family)
        except OSError as exc:
            raise UserError(f"--http {address}: cannot listen there ({exc.strerror or exc})") from None
        self.httpd.live = self  # type: ignore[attr-defined]
        self.token, self.view = token, None
        self.closing, self.shown = threading.Event(), threading.Event()
        bound_host, bound_port = self.httpd.server_address[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="live-http", daemon=True)
        self._thread.start()
        log(f"live page: {self.url}" + (f" (token from {TOKEN_VARIABLE})" if token else ""))

    def show(self, view: RunView) -> None:
        """Serve this run's view (the model is loaded)."""
        self.view = view
        self.shown.set()

    def close(self) -> None:
        self.closing.set()
        self.shown.set()
        if self.view is not None:
            self.view.state.touch()  # wakes the event streams, which see `closing`
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    timeout = WRITE_TIMEOUT_S
    server_version = "padim-edge"
    sys_version = ""

    @property
    def live(self) -> LiveServer:
        return self.server.live  # type: ignore[attr-defined]

    def log_message(self, *_args: object) -> None:
        pass  # the run's stderr is for the run

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        path, live, view = url.path, self.live, self.live.view
        if path == "/healthz":
            return self._send(200, b"ok\n", "text/plain")
        if path == "/readyz":
            why = "the model is not loaded yet" if view is None else view.readiness()
            return self._send(503 if why else 200, f"not ready: {why}\n".encode() if why else b"ready\n", "text/plain")
        if not self._authorized(url.query):
            return
        if path == "/" and live.token and "token" in parse_qs(url.query):
            return self._send(303, b"", "text/plain", {"Location": "/", "Set-Cookie": self._cookie()})
        if path == "/":
            return self._send(
                200, PAGE, "text/html; charset=utf-8", {"Content-Security-Policy": CONTENT_SECURITY_POLICY}
            )
        if path == "/events":
            return self._events()
        if view is None:
            return self._send(503, b"starting: the model is not loaded yet\n", "text/plain")
        if path == "/metrics":
            return self._send(200, view.metrics.exposition(), CONTENT_TYPE_LATEST)
        if path == "/frame.jpg":
            latest = view.state.frame_jpeg()
            if latest is None:
                return self._send(404, b"no frame yet\n", "text/plain")
            index, jpeg = latest
            return self._send(200, jpeg, "image/jpeg", {"X-Frame-Index": str(index)})
        match = _REJECT.match(path)
        jpeg = view.state.reject_jpeg(int(match[1]), bool(match[2])) if match else None
        if jpeg is None:
            return self._send(404, b"not found\n", "text/plain")
        return self._send(200, jpeg, "image/jpeg")

    def _authorized(self, query: str) -> bool:
        """Without a token, everyone; with one: `Authorization: Bearer TOKEN`, the page's cookie, or
        `/?token=TOKEN` (which sets the cookie, so the page's own requests carry it). Else 401."""
        token = self.live.token
        if not token:
            return True
        offered = [self.headers.get("Authorization", "").removeprefix("Bearer ").strip()]
        for part in self.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == TOKEN_COOKIE:
                offered.append(value)
        offered += parse_qs(query).get("token", [])
        if any(hmac.compare_digest(value.encode(), token.encode()) for value in offered if value):
            return True
        self._send(401, b"a valid bearer token is required\n", "text/plain", {"WWW-Authenticate": "Bearer"})
        return False

    def _cookie(self) -> str:
        return f"{TOKEN_COOKIE}={self.live.token}; Path=/; HttpOnly; SameSite=Strict"

    def _send(self, code: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # the client went away

    def _events(self) -> None:
        """Server-sent events: the whole state, never a backlog. A viewer that reads slowly blocks only this
        thread, and on its next turn gets the newest state (the ones in between are never queued). Before
        the model is loaded the stream waits (a browser gives up an event stream that answers an error)."""
        # Server-sent events rather than MJPEG: the state is small JSON, and the page fetches the newest
        # frame only when it has shown the previous one, so a slow browser gets fewer frames, not a queue.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.live.shown.wait()
        view, closing, seen = self.live.view, self.live.closing, -1
        if view is None:
            return
        state, first = view.state, True
        while not closing.is_set():
            with state.changed:
                state.changed.wait_for(lambda last=seen: state.version != last or closing.is_set(), EVENT_REFRESH_S)
                seen = state.version
            if closing.is_set():
                return
            try:
                retry = b"retry: 1000\n" if first else b""  # the browser reconnects after 1 s, not 3
                self.wfile.write(retry + b"data: " + json.dumps(view.event(), allow_nan=False).encode() + b"\n\n")
                self.wfile.flush()
            except (OSError, ValueError):
                return  # the viewer went away or stalled past the write timeout
            first = False
            closing.wait(EVENT_INTERVAL_S)
