"""The training data of a step, read from the round that covers it.

Round ``r`` (the step at which its negatives were mined; 0 = initial) covers steps ``r .. r+k-1``. Its
``tuples.npz`` holds ``batch_size`` labelled tuples per step, so the batch of (0-based) step ``s`` is rows
``(s - r) * batch_size ...`` of round ``r = (s // k) * k``. Nothing else is mutable: re-mining writes a new round
folder, and the next step reads it. The data position is the step number, restored with every checkpoint.
"""

from __future__ import annotations

import numpy as np

from .labels import Space, rescale_margins
from .workdir import WorkDir


def round_of(step: int, remine_every: int) -> int:
    """The round whose negatives (0-based) step ``step`` trains on."""
    return (step // remine_every) * remine_every if remine_every > 0 else 0


class RoundData:
    """Batches for training steps, built from the rounds' labelled tuples (one round kept in memory)."""

    def __init__(self, work: WorkDir, space: Space, remine_every: int, batch_size: int,
                 label_rescale: list[float] | tuple[float, ...] = ()):
        self.work, self.space = work, space
        self.remine_every, self.batch_size = remine_every, batch_size
        self.label_rescale = tuple(label_rescale)
        self._round: int | None = None
        self._data: dict | None = None

    def _load(self, r: int) -> dict:
        if self._round != r:
            data = self.work.round(r).tuples()
            start, end, bs = (int(x) for x in data["steps"])
            if bs != self.batch_size:
                raise RuntimeError(f"round {r} was sampled with batch size {bs}, training uses {self.batch_size}")
            data["start"], data["end"] = start, end
            # the training labels: the teacher's margins, rescaled over the whole round as GPL rescales its file
            data["label"] = (rescale_margins(data["margin"], *self.label_rescale).astype(np.float32)
                             if self.label_rescale else data["margin"])
            self._round, self._data = r, data
        return self._data

    def batch(self, step: int) -> tuple[list[dict], np.ndarray, int]:
        """(rows with query/positive/negative/label, the teacher's margins, round) for 0-based ``step``; a row's
        label is its margin, rescaled when ``label_rescale`` is set."""
        r = round_of(step, self.remine_every)
        data = self._load(r)
        if not data["start"] <= step < data["end"]:
            raise RuntimeError(f"round {r} covers steps {data['start']}..{data['end'] - 1}, not step {step}")
        lo = (step - data["start"]) * self.batch_size
        tuples = data["tuples"][lo:lo + self.batch_size]
        margins = data["margin"][lo:lo + self.batch_size]
        labels = data["label"][lo:lo + self.batch_size]
        rows = [{"query": self.space.query_text(int(q)), "positive": self.space.doc_text(int(p)),
                 "negative": self.space.doc_text(int(n)), "label": float(m)}
                for (q, p, n), m in zip(tuples.tolist(), labels.tolist())]
        return rows, margins, r
