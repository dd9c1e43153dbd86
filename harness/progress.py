"""What a command shows on stderr besides its results: the progress of long steps, and log lines.

* Progress (:func:`counter`, :func:`progress_iter`): on a terminal, a transient rich bar (done/total, rate, elapsed,
  time left). Without one (stderr redirected: Slurm, nohup, CI) a plain log line every ``HARNESS_PROGRESS_SECONDS``
  (default 60), e.g. ``Encoding corpus: 12,288/50,000 passages (24.6%), 41 passages/s, 5:00 elapsed, ETA 15:20``,
  and one when such a long step ends; a step shorter than the interval prints nothing.
  ``HARNESS_NO_PROGRESS=1`` turns both off (tests, CI logs).
* Logging (:func:`configure_logging`): the harness's own lines (logger ``harness``) at INFO; other libraries only when
  they warn (``--debug``: from INFO), whatever level they set on their own loggers; without a terminal, third-party
  progress bars are off (a bar written to a file is one endless line), and transformers' own bars ("Loading weights",
  "Writing model shards") are off everywhere (:func:`quiet_transformers`) unless ``--debug``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")

INTERVAL_ENV = "HARNESS_PROGRESS_SECONDS"
log = logging.getLogger("harness")


def enabled() -> bool:
    return not os.environ.get("HARNESS_NO_PROGRESS")


def stderr_console():
    """rich's console on stderr; made when something is printed, so rich is not imported by commands that print nothing."""
    from rich.console import Console

    return Console(stderr=True)


def on_terminal() -> bool:
    """Whether stderr is a terminal (where a bar can redraw itself) rather than a file or a pipe."""
    return stderr_console().is_terminal


def interval() -> float:
    """Seconds between two plain progress lines (``HARNESS_PROGRESS_SECONDS``, default 60)."""
    from .errors import HarnessError

    raw = os.environ.get(INTERVAL_ENV, "").strip()
    try:
        value = float(raw) if raw else 60.0
    except ValueError:
        raise HarnessError(f"{INTERVAL_ENV}='{raw}' is not a number of seconds") from None
    if value < 0:
        raise HarnessError(f"{INTERVAL_ENV}={raw}: must be 0 or more seconds")
    return value


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class _Lines:
    """Progress as a log line every :func:`interval` seconds: done/total, rate, elapsed time and time left."""

    def __init__(self, desc: str, total: int | None, unit: str | None, completed: int = 0):
        self.desc, self.total, self.unit = desc, total, unit
        self.done = self.first = completed
        self.every = interval()
        self.start = self.last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every and not (self.total and self.done >= self.total):  # the end has its line
            self.last = now
            log.info(self.line(now))

    def line(self, now: float, end: bool = False) -> str:
        unit = f" {self.unit}" if self.unit else ""
        elapsed = now - self.start
        rate = (self.done - self.first) / elapsed if elapsed > 0 else 0.0
        speed = f"{rate:,.0f}{unit}/s" if rate >= 10 else f"{rate:,.2f}{unit}/s"
        if self.total:
            head = f"{self.desc}: {self.done:,}/{self.total:,}{unit} ({100 * self.done / self.total:.1f}%)"
        else:
            head = f"{self.desc}: {self.done:,}{unit}"
        if end:
            return f"{head} done in {_clock(elapsed)}, {speed}"
        left = f", ETA {_clock((self.total - self.done) / rate)}" if self.total and rate > 0 else ""
        return f"{head}, {speed}, {_clock(elapsed)} elapsed{left}"

    def close(self) -> None:
        now = time.monotonic()
        if now - self.start >= self.every:  # a long step says when it ended; a short one stays silent
            log.info(self.line(now, end=True))


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


@contextlib.contextmanager
def counter(desc: str, total: int | None, unit: str | None, completed: int = 0,
            console=None) -> Iterator[Callable[[int], None]]:
    """Progress counting ``unit`` (e.g. passages) with their rate and the time left; yields ``advance(n)``.

    A bar on a terminal (or on ``console``), plain log lines otherwise; with progress disabled ``advance`` does
    nothing.
    """
    if not enabled() and console is None:
        yield lambda n=1: None
        return
    if console is None and not on_terminal():
        lines = _Lines(desc, total, unit, completed)
        try:
            yield lines.advance
        finally:
            lines.close()
        return
    with _progress(unit, console) as bar:
        task = bar.add_task(desc, total=total, completed=completed)
        yield lambda n=1: bar.advance(task, n)


def progress_iter(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` with progress (:func:`counter`)."""
    total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
    with counter(desc, total, None) as advance:
        for item in items:
            yield item
            advance(1)


# ---------------------------------------------------------------------------------------------------- logging
class _Stderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a line is logged: through a live rich bar's proxy (the
    line appears above the bar instead of through it) or a redirection, as ``print(file=sys.stderr)`` would."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ sets it; the property decides
        pass


class _OwnOrWarning(logging.Filter):
    """The harness's own lines at any level its logger lets through; other libraries' from ``level`` on (they may
    set their own loggers to DEBUG, as bm25s does, and those records would otherwise reach this handler)."""

    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name == "harness" or record.name.startswith("harness.") or record.levelno >= self.level


def _once_per_command():
    """A warning is printed once per command: ``harness run`` reads a dataset's qrels to run and again to print the
    score, and would otherwise say twice what ``--lenient-qrels`` dropped."""
    seen: set[str] = set()

    def first_time(record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        message = record.getMessage()
        if message in seen:
            return False
        seen.add(message)
        return True

    return first_time


def configure_logging(debug: bool = False) -> None:
    """The process's stderr: the harness's log lines, other libraries' warnings (each once), no third-party bars in
    files."""
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(_OwnOrWarning(logging.INFO if debug else logging.WARNING))
    handler.addFilter(_once_per_command())
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("harness").setLevel(logging.DEBUG if debug else logging.INFO)
    # faiss announces at INFO that it fell back from its AVX512-SPR build to another one: not news to a user
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    if not debug and not on_terminal():  # read when tqdm and huggingface_hub are imported (after this)
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def quiet_transformers() -> None:
    """transformers' own bars ("Loading weights" on every model load, "Writing model shards" on every save) off,
    unless ``--debug`` (HARNESS_DEBUG); the hub's download bars are left alone. Called where models are loaded,
    so the CLI does not import transformers to start."""
    if os.environ.get("HARNESS_DEBUG", "").strip() not in ("", "0"):
        return
    from transformers.utils import logging as hf_logging

    set_hook = getattr(hf_logging, "set_tqdm_hook", None)  # transformers >= 5 (4.x has no per-load bar)
    if set_hook is not None:
        set_hook(lambda factory, args, kwargs: hf_logging.EmptyTqdm(*args, **kwargs))
