"""GPL / R-GPL training on several processes (``torch.distributed``, DDP through the trainer).

``harness run --system rgpl ... --nproc N`` re-launches the same command under ``torch.distributed.run`` (the
engine behind ``torchrun``); ``torchrun --nproc_per_node N -m harness.cli run ...`` works as well. Every rank runs
the same ``harness run``:

* the cached stages before training (query generation, mining, round 0 labels) run on rank 0 while the others wait
  at a barrier, then read the finished stages;
* training is DDP through ``SentenceTransformerTrainer`` (accelerate). Every rank reads the same step's batch of
  ``batch_size`` tuples and trains on its slice (rows ``rank::world``), so ``batch_size`` stays the effective
  batch: per-rank batch x ranks = ``batch_size`` (the paper's 32). DDP averages the gradients, hence one step
  equals a single-process step on the whole batch (up to float rounding);
* R-GPL re-mining is sharded: each rank encodes its share of the corpus and of the queries (whole encoding batches,
  the batches a single process would form), rank 0 gathers them, searches, writes the round and every rank waits
  at a barrier before reading the same negatives;
* rank 0 alone writes the training log, the checkpoint folders, the final model and the run file.

Outside a distributed launch every function here is the single-process identity.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys

import numpy as np

from ..errors import HarnessError

log = logging.getLogger("harness")

TIMEOUT_ENV = "HARNESS_DIST_TIMEOUT"  # seconds a rank waits at a barrier (rank 0 may be generating queries)


def launched() -> bool:
    """True inside a ``torchrun`` / ``--nproc`` launch with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    if active():
        import torch.distributed as dist

        return dist.get_rank()
    return int(os.environ.get("RANK", "0")) if launched() else 0


def world_size() -> int:
    if active():
        import torch.distributed as dist

        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1")) if launched() else 1


def is_main() -> bool:
    return rank() == 0


def init(device: str) -> str:
    """Join the process group of a launch (gloo on CPU, nccl on CUDA); returns this rank's device."""
    if not launched():
        return device
    import torch
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        if torch.cuda.device_count() <= local:
            raise HarnessError(f"--nproc: rank {rank()} needs GPU {local}, only {torch.cuda.device_count()} visible")
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, 24 * 3600)))
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo", timeout=timeout)
        log.info("rank %d of %d joined (%s)", dist.get_rank(), dist.get_world_size(), device)
    return device


def barrier() -> None:
    if active():
        import torch.distributed as dist

        dist.barrier()


def broadcast(obj):
    """Rank 0's ``obj`` on every rank."""
    if not active():
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def mean(value: float) -> float:
    """The mean of ``value`` over the ranks."""
    if not active():
        return value
    import torch
    import torch.distributed as dist

    t = torch.tensor([float(value)], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def check_batch(batch_size: int) -> None:
    if batch_size % world_size():
        raise HarnessError(f"setting 'batch_size': {batch_size} is not divisible by the {world_size()} ranks "
                           f"(the per-rank batch is batch_size / ranks)")


def sharded_encode(model, texts: list[str], batch_size: int, normalize: bool) -> np.ndarray | None:
    """Embeddings of ``texts`` (float32, input order) on rank 0 (None elsewhere); every rank encodes every
    ``world``-th batch of those a single process would encode, so the result equals ``encode_texts``'s."""
    import torch.distributed as dist

    from ..dense import _encode_rows, _inference_mode, encode_batches

    r, w = rank(), world_size()
    batches = encode_batches(model, texts, batch_size)
    mine = batches[r::w]
    parts = []
    with _inference_mode(model):
        for b in mine:
            parts.append((b, _encode_rows(model, [texts[i] for i in b], len(b), normalize)))
    gathered = [None] * w if r == 0 else None
    dist.gather_object(parts, gathered, dst=0)
    if r != 0:
        return None
    dim = next((e.shape[1] for p in gathered for _, e in p), 0)
    out = np.empty((len(texts), dim), dtype=np.float32)
    for p in gathered:
        for b, e in p:
            out[b] = e
    return out


def mine_dense(model, corpus, queries: dict[str, str], qrels: dict[str, list[str]], top_k: int,
               score_function: str, batch_size: int, extra_depth: int = 0,
               precision: str = "auto") -> dict[str, list[str]] | None:
    """:func:`harness.gpl.mining.mine_dense`, sharded over the ranks; the result on rank 0, None elsewhere.
    (``precision`` applies to the single-process path; sharded encodes use the harness default.)"""
    from .mining import mine_dense as mine_single

    if not active():
        return mine_single(model, corpus, queries, qrels, top_k, score_function, batch_size,
                           extra_depth=extra_depth, precision=precision)
    from ..dense import search
    from .mining import drop_positives

    normalize = score_function == "cos"
    qids = list(queries)
    doc_emb = sharded_encode(model, corpus.passages(), batch_size, normalize)
    q_emb = sharded_encode(model, [queries[q] for q in qids], batch_size, normalize)
    if not is_main():
        return None
    k = min(top_k + extra_depth, len(corpus))
    scores, idx = search(q_emb, doc_emb, k)
    run = {q: {corpus.ids[i]: float(s) for s, i in zip(scores[r].tolist(), idx[r].tolist())}
           for r, q in enumerate(qids)}
    return {q: negs[:top_k] for q, negs in drop_positives(run, qrels).items()}


# ------------------------------------------------------------------------------------------------ launch
def launch(argv: list[str], nproc: int) -> int:
    """Run ``harness <argv>`` (without ``--nproc``) on ``nproc`` local processes through torch.distributed.run."""
    if nproc < 1:
        raise HarnessError(f"--nproc: must be at least 1, got {nproc}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "harness.cli", *argv]
    import subprocess

    log.info("launching %d processes: %s", nproc, " ".join(cmd[2:]))
    return subprocess.call(cmd)


def strip_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out
