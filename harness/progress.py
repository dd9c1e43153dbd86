"""Rich progress bars for long steps, on stderr; silent when HARNESS_NO_PROGRESS is set (tests, CI logs)."""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")


def enabled() -> bool:
    return not os.environ.get("HARNESS_NO_PROGRESS")


def stderr_console():
    """rich's console on stderr; made when something is printed, so rich is not imported by commands that print nothing."""
    from rich.console import Console

    return Console(stderr=True)


def _progress(unit: str | None, console=None):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} {unit}/s" if speed else f"? {unit}/s", style="progress.data.speed")

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn()]
    if unit:
        columns.append(RateColumn())
    columns += [TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    return Progress(*columns, transient=True, console=console or stderr_console())


def progress_iter(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` with a transient rich progress bar."""
    if not enabled():
        yield from items
        return
    with _progress(None) as bar:
        task = bar.add_task(desc, total=total if total is not None else (len(items) if hasattr(items, "__len__") else None))
        for item in items:
            yield item
            bar.advance(task)


@contextlib.contextmanager
def counter(desc: str, total: int, unit: str, completed: int = 0, console=None) -> Iterator[Callable[[int], None]]:
    """A bar counting ``unit`` (e.g. passages) with their rate and the time left; yields ``advance(n)``.

    With progress disabled the yielded function does nothing.
    """
    if not enabled() and console is None:
        yield lambda n: None
        return
    with _progress(unit, console) as bar:
        task = bar.add_task(desc, total=total, completed=completed)
        yield lambda n: bar.advance(task, n)
