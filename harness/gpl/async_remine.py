"""Asynchronous R-GPL re-mining (``remine_schedule=async``): a worker process mines while training continues.

R-GPL (the paper) stops training at steps k, 2k, ... and re-mines with the current weights. The paper's
Limitations name asynchronous re-mining, as in ANCE (Xiong et al., 2021), as future work; this is that mode, not
the paper's procedure. With lag ``L`` (``remine_lag``, 1..k; 0 means k):

* at step ``r - L`` (``r`` = k, 2k, ...) the student's weights are saved to ``snapshots/step-<r-L>/`` (renamed
  into place once complete) and a worker process (``python -m harness.gpl.async_remine``) starts: it loads the
  snapshot on ``remine_device`` and runs exactly the synchronous re-mining code (:meth:`Reminer.mine_round`):
  mining, the teacher's labels, ``rounds/<r>/`` with ``manifest.json`` last;
* training goes on with the previous round's negatives; at step ``r`` (the round boundary, as in sync) it waits
  for the worker if it is not done yet and trains steps ``r .. r+k-1`` on the new round.

So round boundaries, tuples and learning-rate schedule are those of the synchronous run at the same k; only the
weights behind a round are ``L`` steps older (the manifest records ``snapshot_step``), and the negatives equal
synchronous re-mining's from the same weights. Resuming after a kill: a round whose manifest is complete is kept;
a round still pending at the checkpoint is re-mined from its snapshot on disk (snapshots are deleted once a
checkpoint at or after their round exists). The worker dies with its parent (``PR_SET_PDEATHSIG`` on Linux), so
a killed run leaves no writer behind.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..errors import HarnessError
from ..fileio import atomic_open, read_json, write_json
from .workdir import WorkDir

log = logging.getLogger("harness")

SNAPSHOT_META = "harness-snapshot.json"


class AsyncRemining:
    """Schedules snapshots and worker processes for one training (called from the trainer's callbacks)."""

    def __init__(self, reminer, work: WorkDir, settings, max_steps: int, at_end: bool):
        self.reminer, self.work, self.settings = reminer, work, settings
        self.k, self.lag = settings.remine_every, settings.lag()
        self.rounds = [r for r in range(self.k, max_steps + 1, self.k) if r < max_steps or at_end]
        self.workers: dict[int, int] = {}  # rounds asked of the worker -> snapshot step
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.wait_seconds = 0.0
        self.student_mines = settings.remine_model == "student"

    # -------------------------------------------------------------------------------------------- paths
    @property
    def folder(self) -> Path:
        return self.work.async_dir

    def snapshot_dir(self, step: int) -> Path:
        return self.work.snapshot(step)

    def _job_path(self) -> Path:
        """The worker's inputs (re-miner with corpus and queries), pickled once per training."""
        p = self.folder / "job.pkl"
        if not p.is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_open(p, "wb", encoding=None) as fh:
                pickle.dump(self.reminer, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return p

    # ------------------------------------------------------------------------------------------ events
    def on_train_begin(self, step: int, model) -> None:
        """Start the workers of rounds whose snapshot step is behind ``step`` and whose round is not written."""
        if any(r > step for r in self.rounds):
            self._worker()  # its imports and the teacher load while the first steps train
        for r in self.rounds:
            if r - self.lag <= step < r and r not in self.workers:
                snap = self.snapshot_dir(r - self.lag)
                if self._complete(r, snap):
                    continue
                if not (snap / SNAPSHOT_META).is_file():
                    if step != r - self.lag and self.student_mines:
                        raise HarnessError(f"round {r}: the snapshot {snap} it is mined from is missing; delete "
                                           f"{self.work.root} to retrain")
                    self._snapshot(step, model)
                self._start(r, r - self.lag)

    def on_step_end(self, step: int, model) -> None:
        for r in self.rounds:
            if r - self.lag == step and r not in self.workers:
                fp = self._snapshot(step, model)
                if self._complete(r, self.snapshot_dir(step), fp):
                    log.info("round %d: already mined from these weights, reused", r)
                    continue
                self._start(r, step)
        if step in self.rounds:
            self.wait(step)

    def on_save(self, step: int) -> None:
        """Snapshots of rounds at or before a saved checkpoint are no longer needed to resume."""
        for r in self.rounds:
            snap = self.snapshot_dir(r - self.lag)
            if r <= step and snap.is_dir() and self.work.round(r).manifest() is not None:
                shutil.rmtree(snap, ignore_errors=True)

    # -------------------------------------------------------------------------------------- internals
    def _complete(self, r: int, snap: Path, fingerprint: str | None = None) -> bool:
        m = self.work.round(r).manifest()
        if m is None or m.get("snapshot_step") != r - self.lag:
            return False
        if fingerprint is None and (snap / SNAPSHOT_META).is_file():
            fingerprint = read_json(snap / SNAPSHOT_META)["fingerprint"]
        return fingerprint is None or m.get("snapshot_fingerprint") == fingerprint

    def _snapshot(self, step: int, model) -> str | None:
        """Save the student's weights of ``step`` (complete folder or none); returns their fingerprint."""
        if not self.student_mines:
            return None
        from ..dense import model_fingerprint

        fp = model_fingerprint(model)
        dst = self.snapshot_dir(step)
        if (dst / SNAPSHOT_META).is_file() and read_json(dst / SNAPSHOT_META).get("fingerprint") == fp:
            return fp
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save(str(tmp))
        write_json(tmp / SNAPSHOT_META, {"step": step, "fingerprint": fp})
        shutil.rmtree(dst, ignore_errors=True)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dst)
        return fp

    def _worker(self) -> subprocess.Popen:
        """The worker process (one per training: imports and models load once, while training runs)."""
        if self.proc is None or self.proc.poll() is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.log_path = self.folder / "worker.log"
            cmd = [sys.executable, "-m", "harness.gpl.async_remine", str(self._job_path()), str(os.getpid())]
            with open(self.log_path, "a", encoding="utf-8") as fh:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=fh,
                                             text=True, env=dict(os.environ))
            log.info("re-mining worker %d started (log %s)", self.proc.pid, self.log_path)
        return self.proc

    def _start(self, r: int, snapshot_step: int) -> None:
        proc = self._worker()
        snap = self.snapshot_dir(snapshot_step) if self.student_mines else Path("-")
        proc.stdin.write(json.dumps({"round": r, "snapshot_step": snapshot_step, "snapshot": str(snap)}) + "\n")
        proc.stdin.flush()
        self.workers[r] = snapshot_step
        log.info("round %d: re-mining from the weights of step %d in worker %d", r, snapshot_step, proc.pid)

    def _failed(self, r: int, why: str) -> HarnessError:
        tail = ""
        if self.log_path is not None and self.log_path.is_file():
            tail = "".join(open(self.log_path, encoding="utf-8", errors="replace").readlines()[-5:]).strip()
        return HarnessError(f"round {r}: re-mining worker {why} (log {self.log_path}): {tail[-600:]}")

    def wait(self, r: int) -> None:
        """Block until round ``r`` is written (asking the worker now if it was not asked yet)."""
        if r not in self.workers and self.work.round(r).manifest() is None:
            snap = self.snapshot_dir(r - self.lag)
            if self.student_mines and not (snap / SNAPSHOT_META).is_file():
                raise HarnessError(f"round {r}: no worker and no snapshot {snap}; delete {self.work.root} to retrain")
            self._start(r, r - self.lag)
        t0 = time.time()
        while r in self.workers:
            line = self.proc.stdout.readline()
            if not line:
                rc = self.proc.wait()
                self.proc = None
                self.workers.clear()
                raise self._failed(r, f"exited with status {rc}")
            msg = json.loads(line)
            self.workers.pop(msg["round"], None)
            if not msg.get("ok"):
                raise self._failed(msg["round"], f"failed: {msg.get('error', '')}")
        self.wait_seconds += time.time() - t0
        if self.work.round(r).manifest() is None:
            raise HarnessError(f"round {r}: the re-mining worker finished without writing {self.work.round(r).dir}")

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.stdin.close()  # the worker ends at end of input
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        self.workers.clear()


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


def worker_main(argv: list[str]) -> None:
    """``python -m harness.gpl.async_remine JOB PARENT_PID``: one JSON request per stdin line
    (``{"round", "snapshot_step", "snapshot"}``), one JSON answer per line on stdout (``{"round", "ok"}``)."""
    job, parent = argv[0], int(argv[1])
    _die_with_parent(parent)
    answers = os.fdopen(os.dup(1), "w")  # libraries print to stdout: give them stderr, keep the pipe for answers
    os.dup2(2, 1)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with open(job, "rb") as fh:
        reminer = pickle.load(fh)
    s = reminer.settings
    if s.num_threads:
        import torch

        torch.set_num_threads(s.num_threads)
    from ..dense import load_encoder
    from .models import pick_device

    reminer.teacher()  # load the teacher while training runs
    for line in sys.stdin:
        req = json.loads(line)
        r = req["round"]
        try:
            if s.remine_model == "student":
                snap = Path(req["snapshot"])
                model = load_encoder(str(snap), device=pick_device(s.remine_device or s.device),
                                     max_seq_length=s.max_seq_length)
                fp = read_json(snap / SNAPSHOT_META)["fingerprint"]
            else:
                model, fp = reminer.miner_model(None), None
            reminer.mine_round(r, model, snapshot_step=req["snapshot_step"], schedule="async", snapshot_fingerprint=fp)
            del model
            answers.write(json.dumps({"round": r, "ok": True}) + "\n")
        except Exception as e:  # reported to the training process, which stops with it
            log.exception("round %d failed", r)
            answers.write(json.dumps({"round": r, "ok": False, "error": f"{type(e).__name__}: {e}"}) + "\n")
        answers.flush()


if __name__ == "__main__":
    worker_main(sys.argv[1:])
