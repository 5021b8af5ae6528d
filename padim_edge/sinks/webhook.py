"""Webhook: an HTTP POST of each result (or of small batches, a JSON array) through the disk spool.

urllib from the standard library, not httpx: the delivery thread sends one request at a time, so a
connection pool buys little at camera rates (batches amortise the connection), and the torch-free runtime
keeps one dependency fewer. Any 2xx status acknowledges the request; anything else, or a timeout, is
retried with backoff from the first unacknowledged result.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from padim_edge.errors import UserError
from padim_edge.runtime.results import FrameResult
from padim_edge.sinks.delivery import Delivery
from padim_edge.sinks.names import WEBHOOK_MAX_BATCH as MAX_BATCH
from padim_edge.sinks.names import WEBHOOK_TOKEN_ENV as TOKEN_ENV
from padim_edge.sinks.payload import Identity, encode
from padim_edge.sinks.spool import Spool
from padim_edge.sinks.urls import split_url


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    batch: int = 1
    timeout_s: float = 5.0


def parse_webhook(url: str, headers_file: Path | None, batch: int, timeout_s: float) -> WebhookSettings:
    """`--webhook URL` (http or https) and the headers for a token: $PADIM_EDGE_WEBHOOK_TOKEN, and/or a
    file of `Name: value` lines (--webhook-headers), never argv."""
    parts, _port = split_url("--webhook", url, ("http", "https"), "http[s]://HOST[:PORT]/PATH")
    if parts.password is not None:
        raise UserError(f"--webhook {url}: a password on the command line is visible to every user; use a token")
    if not 1 <= batch <= MAX_BATCH:
        raise UserError(f"--webhook-batch {batch}: expected 1-{MAX_BATCH}")
    if not timeout_s > 0:
        raise UserError(f"--webhook-timeout-s {timeout_s}: expected a positive number of seconds")
    headers = {}
    if token := os.environ.get(TOKEN_ENV):
        headers["Authorization"] = f"Bearer {token}"
    if headers_file is not None:
        headers.update(read_headers(headers_file))
    return WebhookSettings(url, headers, batch, timeout_s)


def read_headers(path: Path) -> dict[str, str]:
    """`Name: value` lines; blank lines and lines starting with '#' are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--webhook-headers {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    headers = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or any(c in name for c in " \t") or "\r" in value:
            raise UserError(f"--webhook-headers {path}: line {number} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


class WebhookTransport:
    name = "webhook"

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings, self.max_batch = settings, settings.batch
        self._headers = {"Content-Type": "application/json", "User-Agent": "padim-edge", **settings.headers}

    def send(self, records: list[bytes]) -> int:
        body = records[0] if self.settings.batch == 1 else b"[" + b",".join(records) + b"]"
        request = urllib.request.Request(self.settings.url, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raise OSError(f"HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            raise OSError(str(exc.reason)) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:  # a stalled or cut response
            raise OSError(str(exc) or type(exc).__name__) from None
        return len(records) if 200 <= status < 300 else 0

    def idle(self) -> None:
        pass

    def close(self) -> None:
        pass


class WebhookSink:
    """The pipeline's webhook output; `stats()` for the summary and metrics."""

    needs_images = False

    def __init__(
        self,
        settings: WebhookSettings,
        identity: Identity,
        spool: Spool,
        rate: float = 0.0,
        drain_s: float = 5.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.identity = identity
        self.delivery = Delivery(WebhookTransport(settings), spool, rate, drain_s, log)

    def wants_overlay(self, result: FrameResult) -> bool:
        return False

    def write(self, result: FrameResult, overlay: np.ndarray | None) -> None:
        self.delivery.offer(encode(self.identity.payload(result)))

    def close(self) -> None:
        self.delivery.close()

    def stats(self) -> dict:
        return self.delivery.stats()
