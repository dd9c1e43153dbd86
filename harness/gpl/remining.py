"""R-GPL's re-mining, run by the trainer's callback at steps k, 2k, ...

At step ``s`` the re-mining model (the student under training by default) encodes the training corpus in eval
mode and ``encode_precision`` (``harness.dense`` restores train mode afterwards; ``student_dropout`` decides the
mode training continues in), retrieves the top ``remine_top_k`` (+ ``mining_extra_depth``) for every generated
query, drops the positives (keeping at most ``remine_top_k``), and the result becomes the negatives of steps ``s .. s+k-1``: ``replace`` (the
paper) uses only them, ``union`` merges them into the previous round's negatives. The teacher labels the tuples
of those steps. Everything lands in ``rounds/<s>/`` (see :func:`harness.gpl.labels.write_round`); a round whose
``manifest.json`` exists and whose model fingerprint matches the current weights is reused (a resumed run that
re-trains up to ``s`` on the same hardware). The manifest records ``snapshot_step``, the step whose weights
mined the round: ``s`` itself, or ``s - remine_lag`` with ``remine_schedule=async``
(:mod:`harness.gpl.async_remine`). Under DDP the encoding is sharded over the ranks
(:mod:`harness.gpl.distributed`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from ..datasets import Corpus
from .labels import Space, write_round
from .models import pick_device, resolve_model, safe_name
from .settings import GPLSettings, RemineSpec
from .workdir import Negatives, QueryNegatives, WorkDir

log = logging.getLogger("harness")


@dataclass
class Reminer:
    work: WorkDir
    settings: GPLSettings
    spec: RemineSpec
    space: Space
    train_corpus: Corpus
    qrels: dict[str, list[str]]
    seed: int
    teacher_factory: Callable[[], object]
    _teacher: object | None = field(default=None, init=False)
    _fixed_model: object | None = field(default=None, init=False)

    @property
    def source_name(self) -> str:
        m = self.spec.model
        return "student" if m == "student" else safe_name(m)

    def teacher(self):
        if self._teacher is None:
            self._teacher = self.teacher_factory()
        return self._teacher

    def miner_model(self, student):
        if self.spec.model == "student":
            return student
        if self._fixed_model is None:
            from ..dense import load_encoder

            self._fixed_model = load_encoder(resolve_model(self.spec.model),
                                             device=pick_device(self.settings.device))
        return self._fixed_model

    def previous_round(self, step: int) -> int:
        return step - self.spec.every if step - self.spec.every > 0 else 0

    def __getstate__(self) -> dict:  # an asynchronous worker builds its own teacher and fixed model
        state = dict(self.__dict__)
        state["_teacher"] = state["_fixed_model"] = None
        return state

    def __call__(self, step: int, student) -> None:
        """Synchronous re-mining at ``step`` with the weights of ``step`` (sharded over the ranks under DDP)."""
        self.mine_round(step, self.miner_model(student), snapshot_step=step)

    def mine_round(self, step: int, model, snapshot_step: int, schedule: str = "sync",
                   snapshot_fingerprint: str | None = None) -> dict | None:
        """Mine with ``model`` (the weights of ``snapshot_step``) and write the round of ``step``; reuse a round
        already mined with these weights. Every rank calls it under DDP; rank 0 writes, the others wait."""
        from ..dense import model_fingerprint, seq_length
        from . import distributed

        s, spec = self.settings, self.spec
        rnd = self.work.round(step)
        with seq_length(model, s.max_seq_length):  # the retrieval length, also when training truncates shorter
            fingerprint = model_fingerprint(model)
            done = rnd.manifest()
            if distributed.broadcast(done is not None and done.get("checkpoint_fingerprint") == fingerprint):
                log.info("round %d: already mined with these weights, reused", step)
                return done
            t0 = time.time()
            queries = {q: self.space.queries[q] for q in self.qrels}
            mined = distributed.mine_dense(model, self.train_corpus, queries, self.qrels, spec.top_k,
                                           spec.score_function, s.encode_batch_size,
                                           extra_depth=s.mining_extra_depth, precision=s.encode_precision)
        mine_seconds = time.time() - t0
        m = None
        if distributed.is_main():
            previous = self.work.round(self.previous_round(step)).negatives()
            negatives = merge(previous, mined, self.qrels, self.source_name, spec.mode)
            end = min(step + spec.every, s.steps) if step < s.steps else step
            extra = {"snapshot_step": snapshot_step, "schedule": schedule, "ranks": distributed.world_size()}
            if snapshot_fingerprint:
                extra["snapshot_fingerprint"] = snapshot_fingerprint
            m = write_round(rnd, negatives=negatives, previous=previous, space=self.space,
                            teacher=self.teacher(), settings=s, seed=self.seed, start=step, end=end,
                            miner=self.source_name, checkpoint_fingerprint=fingerprint, mine_seconds=mine_seconds,
                            mode=spec.mode, extra=extra)
            log.info("round %d: re-mined %d negatives (weights of step %d) in %.1f s, labelled in %.1f s "
                     "(overlap with previous %.3f)", step, m["n_negatives"], snapshot_step, m["seconds"],
                     m["label_seconds"], m["overlap_with_previous"] or 0.0)
        distributed.barrier()
        return m


def merge(previous: Negatives, mined: dict[str, list[str]], qrels: dict[str, list[str]], source: str,
          mode: str) -> Negatives:
    """``replace``: only the new lists; ``union``: the previous round's lists plus the new ones (merged into the
    same source's list when it is already there, new ids first)."""
    out = Negatives()
    for q, pos in qrels.items():
        new = mined.get(q, [])
        if mode == "union":
            neg = {src: list(lst) for src, lst in (previous[q].neg if q in previous else {}).items()}
            neg[source] = list(dict.fromkeys(new + neg.get(source, [])))
        else:
            neg = {source: list(new)}
        out[q] = QueryNegatives(list(pos), neg)
    return out
