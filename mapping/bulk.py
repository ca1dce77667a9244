"""Working on many records at once: a page read from an ERP, or stored."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused_gc"]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold Python's cycle collector off while a page of records is built or stored.

    A page allocates tens of thousands of dicts and models that all live on, and the collector,
    run every few hundred of them, walks every object the process holds again and again: a
    quarter of a read's processor time. Nothing a page builds forms a cycle, so reference
    counting frees it all the same; the collector runs again after the page. Whoever turned the
    collector off before keeps it off.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
