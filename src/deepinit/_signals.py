"""Ctrl-C and SIGTERM, delivered where stopping is safe.

Python raises KeyboardInterrupt between any two bytecodes, including inside
h5py while it holds its global lock: an interrupt that lands in a run file's
write can leave h5py's lock taken, and the checkpoint that follows then waits
for it forever (measured: 1 hang in about 20 interrupts landing at random in a
training run that writes at every evaluation). So while a run trains,
:func:`held` turns SIGINT and SIGTERM (the signal job schedulers stop jobs with)
into a request, and the training loop raises KeyboardInterrupt at the next
chunk boundary (:func:`raise_if_requested`), where nothing is half written.

A sweep's worker processes hold both signals for their whole life
(:func:`hold_for_process`): a stopped worker finishes the write it is in,
records its cell as interrupted, and starts no other cell.

Signal handlers can only be set from the main thread; elsewhere (a Dask
worker's task threads, which receive no signals) these functions do nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

HELD = (signal.SIGINT, signal.SIGTERM)
_requests: list[int] = []  # signals received while held and not yet raised


def _request(signum, frame) -> None:
    _requests.append(signum)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def requested() -> bool:
    """Whether a held SIGINT or SIGTERM waits to be raised."""
    return bool(_requests)


def raise_if_requested() -> None:
    """Raise KeyboardInterrupt (with the signal's name) if a held signal has arrived, and forget it."""
    if _requests:
        name = signal.Signals(_requests[0]).name
        _requests.clear()
        raise KeyboardInterrupt(name)


def hold_for_process() -> None:
    """Hold SIGINT and SIGTERM in this process from now on (a sweep worker's initializer)."""
    if _in_main_thread():
        _hold()


def _hold() -> None:
    for signum in HELD:
        signal.signal(signum, _request)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM inside the block; raise one still pending at its end.

    Inside, call :func:`raise_if_requested` where stopping is safe. Within a
    process that holds them already (:func:`hold_for_process`), a request stays
    pending after the block, for the caller's next check.
    """
    if not _in_main_thread() or all(signal.getsignal(signum) is _request for signum in HELD):
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in HELD}
    _hold()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        # A stop asked for after the last check is not lost (it outranks an exception on its way out).
        raise_if_requested()
