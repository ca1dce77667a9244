"""Progress on a terminal while a cycle runs: the pull, the rules, sending and the write-back.

Each phase gets its own line; when the next one starts, the previous one is marked done and its
clock stops, so a long write-back never looks like finished pulls with ticking timers. Nothing is
shown when the output is not a terminal (the JSON logs say it all). Log lines written meanwhile
are printed above the bars (``engine.logs`` writes to whatever ``sys.stderr`` is at the time).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mapping.models import Stream

__all__ = ["CycleProgress", "progress"]


@contextmanager
def progress(enabled: bool, console: Any = None) -> Iterator[Any]:
    """Rich progress bars on standard error (or ``console``) when it is a terminal; None otherwise."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        SpinnerColumn(finished_text="✓"),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=True,
    ) as bars:
        yield bars


class CycleProgress:
    """What one connection's cycle reports to: ``on_page`` for the pull, ``on_progress`` for the rest."""

    def __init__(self, bars: Any, connection: str) -> None:
        self.bars = bars
        self.connection = connection
        self.tasks: dict[str, Any] = {}
        self.done: dict[str, int] = {}
        self.current: str | None = None

    def _task(self, phase: str, unit: str) -> Any:
        if phase != self.current:
            self._close_current()
            self.current = phase
        if phase not in self.tasks:
            self.tasks[phase] = self.bars.add_task(f"{self.connection} {phase}", total=None, unit=unit)
            self.done[phase] = 0
        return self.tasks[phase]

    def _close_current(self) -> None:
        if self.current is None:
            return
        done = max(self.done[self.current], 1)
        task = self.tasks[self.current]
        self.bars.update(task, total=done, completed=done)
        self.bars.stop_task(task)

    def on_page(self, stream: Stream, _pages: int, records: int) -> None:
        phase = f"pull {stream.value}"
        task = self._task(phase, "records")
        self.done[phase] += records
        self.bars.update(task, completed=self.done[phase])

    def on_progress(self, phase: str, done: int, total: int | None) -> None:
        unit = "writes" if phase == "write-back" else "decisions" if phase.startswith("rules") else "sent"
        task = self._task(phase, unit)
        self.done[phase] = done
        self.bars.update(task, completed=done, total=total)

    def finish(self) -> None:
        """The cycle is over: no clock keeps ticking."""
        self._close_current()
        self.current = None
