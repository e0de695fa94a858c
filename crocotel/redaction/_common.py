"""Helpers shared by the span, log and metric adapters."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource

from crocotel.redaction.engine import Redactor

_log = logging.getLogger("crocotel.redaction")

__all__ = ["ExportGate", "ResourceCache", "bounded", "safe_text"]


def bounded(original: object, redacted: Mapping[str, Any] | None, dropped: int) -> Any:
    """Wrap redacted attributes like the SDK does, keeping the dropped count.

    Returns ``original`` itself when nothing was redacted.
    """
    if redacted is original:
        return original
    attrs = BoundedAttributes(maxlen=None, attributes=redacted, immutable=True, max_value_len=None)
    attrs.dropped = dropped
    return attrs


def safe_text(redactor: Redactor, value: str | None, signal: str) -> str | None:
    """Redact an optional string (names, descriptions)."""
    if value is None:
        return None
    return redactor.text(value, signal)


class ResourceCache:
    """Redacts a Resource once: providers hand the same object to every record.

    Reusing one redacted object also keeps exporters grouping records by resource.
    """

    _MAX = 16

    def __init__(self, redactor: Redactor, signal: str) -> None:
        self._redactor = redactor
        self._signal = signal
        self._lock = threading.Lock()
        self._cache: dict[int, tuple[Resource, Resource]] = {}

    def get(self, resource: Resource) -> Resource:
        """The redacted copy of ``resource`` (``resource`` itself if clean)."""
        hit = self._cache.get(id(resource))  # one step under the GIL; the lock orders writers
        if hit is not None and hit[0] is resource:
            return hit[1]
        attrs = self._redactor.attributes(resource.attributes, self._signal)
        if attrs is resource.attributes:
            redacted = resource
        else:
            try:
                redacted = Resource(cast(Any, attrs), resource.schema_url)
            except Exception:
                redacted = Resource({}, resource.schema_url)  # drop what we could not redact
        with self._lock:
            if len(self._cache) >= self._MAX:
                self._cache.clear()
            self._cache[id(resource)] = (resource, redacted)
        return redacted


class ExportGate:
    """Lets export threads into the redaction engine until shutdown gives up on them.

    At exit, when the flush deadline has passed, the SDK's export threads may still be working
    through a long queue while the interpreter finalizes. A daemon thread that is inside RE2's
    C++ code at that moment is torn down through C++ frames and aborts the whole process
    (SIGABRT, exit status 134), so telemetry would change the bot's exit status. :meth:`close`
    makes every later export a cheap no-op and waits, briefly, for batches already inside; a
    batch checks :attr:`closed` between items, so it leaves within one item's redaction.
    Entering and leaving cost one lock per batch, not per value.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._inside = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether shutdown gave up: a batch inside stops before its next item."""
        return self._closed

    def enter(self) -> bool:
        """Whether a batch may be redacted now; pair a True answer with :meth:`leave`."""
        with self._lock:
            if self._closed:
                return False
            self._inside += 1
            return True

    def redact_all(
        self, items: Iterable[Any], redact: Callable[[Any], Any], redactor: Redactor, signal: str
    ) -> list[Any] | None:
        """Redacted copies of ``items`` for one export batch, or None once shutdown gave up.

        An item that cannot be redacted is dropped and counted as an ``error`` redaction.
        """
        if not self.enter():
            return None
        try:
            redacted = []
            for item in items:
                if self._closed:
                    return None
                try:
                    redacted.append(redact(item))
                except Exception:
                    redactor.count("error", signal)
                    _log.debug("dropped a %s item that could not be redacted", signal, exc_info=True)
            return redacted
        finally:
            self.leave()

    def leave(self) -> None:
        """A batch is done with the engine."""
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                self._lock.notify_all()

    def close(self, timeout: float) -> bool:
        """Refuse new batches and wait up to ``timeout`` s for those inside; True when none is left."""
        with self._lock:
            self._closed = True
            return bool(self._lock.wait_for(lambda: self._inside == 0, timeout))
