"""Loopback HTTP servers for stream tests: a live MJPEG camera (that can be cut, go silent or send garbage)
and a plain file server with byte ranges (how a video file on a web server looks to FFmpeg)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MAX_PARTS = 100_000  # no handler loops forever: a test that forgets to close still ends
# Short network timeouts and reconnection waits for `run`, so an outage takes a second, not a minute.
FAST = {"PADIM_EDGE_NETWORK_TIMEOUT_S": "1", "PADIM_EDGE_BACKOFF_S": "0.1", "PADIM_EDGE_MAX_BACKOFF_S": "0.2"}


class Loopback:
    """A threaded HTTP server on 127.0.0.1; `url` ends with `path`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], path: str) -> None:
        self.closing = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{path}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:
        pass


class MjpegServer(Loopback):
    """A live multipart/x-mixed-replace JPEG stream cycling `jpegs` at `fps`.

    `cut_after`: the first connection ends after that many frames; `later`: what every later connection
    does, "stream" (frames until closed) or "silent" (headers, then nothing: a camera that hangs).
    `garbage`: every part is undecodable (a stream that opens but never yields a frame)."""

    def __init__(
        self,
        jpegs: list[bytes],
        fps: float = 25.0,
        cut_after: int | None = None,
        later: str = "stream",
        garbage: bool = False,
    ) -> None:
        self.jpegs, self.fps, self.cut_after, self.later, self.garbage = jpegs, fps, cut_after, later, garbage
        self.connections = 0
        super().__init__(_MjpegHandler, "stream.mjpg")


class _MjpegHandler(_Quiet):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        server: MjpegServer = self.server.owner  # type: ignore[attr-defined]
        server.connections += 1
        first = server.connections == 1
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        if not first and server.later == "silent":
            server.closing.wait(60)
            return
        limit = server.cut_after if first and server.cut_after is not None else MAX_PARTS
        for sent in range(limit):
            if server.closing.is_set():
                return
            jpeg = server.jpegs[sent % len(server.jpegs)]
            if server.garbage:
                jpeg = b"\xff\xd8" + bytes(reversed(jpeg[2:]))
            part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
            try:
                self.wfile.write(part + jpeg + b"\r\n")
                self.wfile.flush()
            except OSError:  # the client went away
                return
            time.sleep(1 / server.fps)


class FileServer(Loopback):
    """Serves one file with Content-Length and byte ranges, as web servers do; counts the requests."""

    def __init__(self, path: Path) -> None:
        self.data, self.requests = path.read_bytes(), 0
        super().__init__(_FileHandler, path.name)


class _FileHandler(_Quiet):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        server: FileServer = self.server.owner  # type: ignore[attr-defined]
        server.requests += 1
        data, start = server.data, 0
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes="):
            start = int(ranged[6:].split("-")[0] or 0)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        try:
            self.wfile.write(data[start:])
        except OSError:
            return
