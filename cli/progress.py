"""Progress on a terminal while a cycle pulls; nothing when the output is not a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mapping.models import Stream

__all__ = ["page_callback", "progress"]


@contextmanager
def progress(enabled: bool) -> Iterator[Any]:
    """Rich progress on a terminal; nothing otherwise (the JSON logs say it all)."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
        transient=True,
    ) as progress:
        yield progress


def page_callback(progress: Any, connection: str) -> Any:
    if progress is None:
        return None
    tasks: dict[Stream, Any] = {}

    def on_page(stream: Stream, pages: int, records: int) -> None:
        if stream not in tasks:
            tasks[stream] = progress.add_task(f"{connection} {stream.value}", total=None)
        progress.advance(tasks[stream], records)

    return on_page
