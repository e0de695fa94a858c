"""Forwarding what the demo's own OTLP receiver got to a real Collector.

The demo needs the bot's spans in-process to print trace summaries, and a
user with a Collector wants them there too: the bot exports to the demo's
receiver, and every accepted export body is posted on, unchanged, to the
Collector's http/protobuf endpoint for the same signal. A slow or absent
Collector costs the demo nothing: the queue is bounded and drops the excess,
and the count of what was dropped or failed is reported at the end.
"""

from __future__ import annotations

import queue
import threading
import urllib.request
from collections.abc import Mapping

__all__ = ["Forwarder"]

_MAX_QUEUED = 1000
_TIMEOUT = 5.0


class Forwarder:
    """Posts OTLP/HTTP export bodies to ``endpoints[path]`` from a worker thread."""

    def __init__(self, endpoints: Mapping[str, str], headers: Mapping[str, str]) -> None:
        self.endpoints = dict(endpoints)
        self.headers = {"Content-Type": "application/x-protobuf", **headers}
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(_MAX_QUEUED)
        self._thread = threading.Thread(target=self._run, name="crocotel-demo-forward", daemon=True)
        self._thread.start()

    def __call__(self, path: str, body: bytes) -> None:
        """Queue one export (called by the receiver); drops it when the queue is full."""
        if path not in self.endpoints:
            return
        try:
            self._queue.put_nowait((path, body))
        except queue.Full:
            self.failed += 1

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (within ``timeout``), then stop."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            path, body = item
            request = urllib.request.Request(
                self.endpoints[path], data=body, headers=self.headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
                    response.read()
                self.sent += 1
            except OSError:
                self.failed += 1
