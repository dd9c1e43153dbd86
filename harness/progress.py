"""Rich progress bars for long steps; silent when HARNESS_NO_PROGRESS is set (tests, CI logs)."""

from __future__ import annotations

import os
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def enabled() -> bool:
    return not os.environ.get("HARNESS_NO_PROGRESS")


def progress_iter(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` with a transient rich progress bar."""
    if not enabled():
        yield from items
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(desc, total=total if total is not None else (len(items) if hasattr(items, "__len__") else None))
        for item in items:
            yield item
            bar.advance(task)
