"""Bounded flushing and signal handling, so a stopping bot loses no spans and no time.

On SIGTERM or SIGINT we flush every signal within ``CROCOTEL_SHUTDOWN_TIMEOUT``
and then let the process end exactly as it would have without us: the previous
Python handler is called, or the default action is re-delivered so that the exit
status is unchanged.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

__all__ = ["install", "run_parallel", "uninstall"]

_log = logging.getLogger("crocotel.lifecycle")
SIGNALS = (signal.SIGTERM, signal.SIGINT)
_previous: dict[int, Any] = {}
_flush: Callable[[float | None], bool] | None = None
_shutdown: Callable[[float | None], bool] | None = None


def run_parallel(tasks: Sequence[Callable[[], object]], timeout: float) -> bool:
    """Run ``tasks`` in daemon threads and wait at most ``timeout`` s for all of them.

    Returns ``True`` when all finished in time. Threads still running afterwards
    are daemons, so they never hold the interpreter open at exit.
    """
    if not tasks:
        return True
    remaining = [len(tasks)]
    done = threading.Event()
    lock = threading.Lock()

    def run(task: Callable[[], object]) -> None:
        try:
            task()
        except Exception:
            _log.warning("telemetry flush step failed", exc_info=True)
        finally:
            with lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    done.set()

    for task in tasks:
        threading.Thread(target=run, args=(task,), name="crocotel-flush", daemon=True).start()
    return done.wait(timeout)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Flush, then hand the signal to whoever would have had it without us."""
    previous = _previous.get(signum, signal.SIG_DFL)
    try:
        if signum == signal.SIGTERM and _shutdown is not None and previous in (signal.SIG_DFL, None):
            _shutdown(None)  # the default action ends the process right after this
        elif _flush is not None:
            _flush(None)
    except Exception:  # telemetry must never break the bot's shutdown
        _log.warning("flush on signal %s failed", signum, exc_info=True)
    if callable(previous):
        previous(signum, frame)
    elif previous in (signal.SIG_DFL, None):
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def install(shutdown: Callable[[float | None], bool], flush: Callable[[float | None], bool]) -> bool:
    """Hook SIGTERM and SIGINT, keeping the previous handlers to chain to.

    Only possible from the main thread; elsewhere the bot's own handling and our
    ``atexit`` flush still apply. Returns whether the handlers were installed.
    """
    global _flush, _shutdown
    _flush, _shutdown = flush, shutdown
    if threading.current_thread() is not threading.main_thread():
        return False
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        if current is _on_signal:
            continue
        if current == signal.SIG_IGN:
            continue  # the app (or nohup) asked to ignore it: so do we
        _previous[signum] = current
        signal.signal(signum, _on_signal)
    return True


def uninstall() -> None:
    """Put the previous handlers back (tests, and ``crocotel.shutdown()``)."""
    global _flush, _shutdown
    if threading.current_thread() is threading.main_thread():
        for signum, previous in list(_previous.items()):
            if signal.getsignal(signum) is _on_signal:
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
    _previous.clear()
    _flush = _shutdown = None
